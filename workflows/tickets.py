"""One Zendesk billing ticket, from the webhook to the reply posted on it.

Read :meth:`TicketWorkflow.run` as the process: fetch the ticket (stop if
billing-ops already answered it); triage it (match the customer, classify,
gather the facts); open the dispute it asks for; draft the reply; let a
person decide it in Slack (Send / Edit / Send as internal note, the
``tickets.decide`` update), unless policy lets this kind go out on its own
and nothing was flagged; post it through Zendesk, once.

While the draft waits for review the customer may write again: every
webhook event signals ``tickets.changed``, and the workflow reads the
ticket again; when the requester's latest message differs from the one
drafted from, it triages and drafts anew (a dispute named in the new
message opens) and shows the reviewers the new draft in place of the old.

One workflow per ticket, with the id ``ticket-<ticket id>``.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.drafting.activities import DraftingActivities
    from activities.drafting.facts import Draft
    from activities.ledger.errors import DATA_ERRORS
    from activities.zendesk.activities import (
        FetchTicket,
        PostReply,
        TicketTriage,
        TriageRequest,
        ZendeskActivities,
    )
    from activities.zendesk.messages import (
        DECIDE_UPDATE,
        DRAFT_QUERY,
        STATUS_QUERY,
        TICKET_CHANGED_SIGNAL,
        WORKFLOW_TYPE,
        Outcome,
        ReplyDecision,
        Stage,
        TicketOutcome,
        TicketStart,
        TicketState,
        draft_seen,
    )
    from activities.zendesk.review import NoticeKind, ReviewNotice
    from activities.zendesk.tickets import TicketView
    from workflows.disputes import WORKFLOW_TYPE as DISPUTE_WORKFLOW
    from workflows.disputes import workflow_id as dispute_workflow_id

#: Zendesk calls retry inside the activity (rate limits, 5xx); this bounds one attempt.
ZENDESK_TIMEOUT = timedelta(minutes=5)
#: Two model calls, each with the client's own retries.
DRAFT_TIMEOUT = timedelta(minutes=10)
RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["ZendeskRefused", "ValueError", *DATA_ERRORS],
)

AUTO_SEND = "policy:auto_send"


@workflow.defn(name=WORKFLOW_TYPE)
class TicketWorkflow:
    def __init__(self) -> None:
        self._ticket_id = 0
        self._stage: Stage = "fetching"
        self._ticket: TicketView | None = None
        self._triage: TicketTriage | None = None
        self._draft: Draft | None = None
        self._decision: ReplyDecision | None = None
        self._outcome: Outcome | None = None
        #: ``tickets.changed`` signals received, and how many of them the last read covers.
        self._changes = 0
        self._read = 0

    @workflow.run
    async def run(self, start: TicketStart) -> TicketOutcome:
        self._ticket_id = start.ticket_id
        ticket = await self._fetch()
        if ticket.answered:
            return self._finish("already_answered")
        triage, draft = await self._triage_and_draft(ticket)

        if triage.auto_send and not draft.needs_human:
            self._decision = ReplyDecision(action="send", by=AUTO_SEND)
        else:
            self._stage = "awaiting_review"
            await self._notify("requested")
            while self._decision is None:
                with suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._decision is not None or self._changes > self._read,
                        timeout=timedelta(hours=triage.review_reminder_hours),
                    )
                if self._decision is not None:
                    break
                if self._changes > self._read:
                    await self._read_again()
                else:
                    await self._notify("reminder")

        triage, draft = self._current()
        decision = self._decision
        assert decision is not None
        self._stage = "posting"
        public = decision.action == "send"
        await workflow.execute_activity_method(
            ZendeskActivities.post_reply,
            PostReply(
                ticket_id=ticket.ticket_id,
                workflow_id=workflow.info().workflow_id,
                customer_id=triage.customer_id,
                category=triage.category,
                body=decision.body or draft.body,
                public=public,
                draft_source="edited" if decision.body else draft.source,
                flagged=bool(draft.flags),
                decided_by=decision.by,
                now=workflow.now(),
            ),
            start_to_close_timeout=ZENDESK_TIMEOUT,
            retry_policy=RETRY,
        )
        outcome = self._finish("public_reply" if public else "internal_note")
        if decision.by != AUTO_SEND:
            await self._notify("decided")
        return outcome

    async def _fetch(self) -> TicketView:
        """Read the ticket; the ``tickets.changed`` signals received so far are covered."""
        self._read = self._changes
        ticket = await workflow.execute_activity_method(
            ZendeskActivities.fetch_ticket,
            FetchTicket(ticket_id=self._ticket_id),
            start_to_close_timeout=ZENDESK_TIMEOUT,
            retry_policy=RETRY,
        )
        self._ticket = ticket
        return ticket

    async def _triage_and_draft(self, ticket: TicketView) -> tuple[TicketTriage, Draft]:
        self._stage = "triaging"
        triage = await workflow.execute_activity_method(
            ZendeskActivities.triage_ticket,
            TriageRequest(
                ticket=ticket, workflow_id=workflow.info().workflow_id, now=workflow.now()
            ),
            start_to_close_timeout=ZENDESK_TIMEOUT,
            retry_policy=RETRY,
        )
        self._triage = triage
        if triage.dispute is not None:
            with suppress(WorkflowAlreadyStartedError):
                await workflow.start_child_workflow(
                    DISPUTE_WORKFLOW,
                    triage.dispute,
                    id=dispute_workflow_id(triage.dispute.dispute_id),
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )

        self._stage = "drafting"
        draft = await workflow.execute_activity_method(
            DraftingActivities.draft_message,
            triage.request,
            start_to_close_timeout=DRAFT_TIMEOUT,
            retry_policy=RETRY,
        )
        self._draft = draft
        return triage, draft

    async def _read_again(self) -> None:
        """The ticket changed while its draft waited: when the requester wrote something new,
        triage and draft it anew and show the reviewers the new draft in place of the old.
        No decision is taken meanwhile: the stage is ``awaiting_review`` again only once the
        reviewers' message shows the new draft."""
        drafted_from = self._ticket
        self._stage = "fetching"
        ticket = await self._fetch()
        if drafted_from is None or (ticket.subject, ticket.text) != (
            drafted_from.subject,
            drafted_from.text,
        ):
            await self._triage_and_draft(ticket)
            await self._notify("requested")
        self._stage = "awaiting_review"

    def _current(self) -> tuple[TicketTriage, Draft]:
        triage, draft = self._triage, self._draft
        assert triage is not None and draft is not None
        return triage, draft

    @workflow.signal(name=TICKET_CHANGED_SIGNAL)
    def ticket_changed(self) -> None:
        self._changes += 1

    @workflow.update(name=DECIDE_UPDATE)
    async def decide(self, decision: ReplyDecision) -> str:
        self._decision = decision
        return f"ticket #{self._ticket_id}: {_describe(decision)} queued"

    @decide.validator
    def _check_decision(self, decision: ReplyDecision) -> None:
        if self._decision is not None:
            raise ValueError(f"ticket #{self._ticket_id}: already decided by {self._decision.by}")
        if self._stage != "awaiting_review" or self._triage is None:
            raise ValueError(
                f"ticket #{self._ticket_id}: no reply waits for review ({self._stage})"
            )
        if (
            decision.seen is not None
            and self._draft is not None
            and decision.seen != draft_seen(self._draft.body)
        ):
            raise ValueError(
                f"ticket #{self._ticket_id}: the reply was drafted anew after you read it "
                "(the customer wrote again); read the new draft in the review message and "
                "decide again"
            )
        if not any(r.is_(decision.by) for r in self._triage.reviewers):
            roles = ", ".join(self._triage.reviewer_roles)
            raise ValueError(
                f"{decision.by} may not send ticket replies: that takes one of the roles {roles}"
            )

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> TicketState:
        triage, draft, decision = self._triage, self._draft, self._decision
        return TicketState(
            ticket_id=self._ticket_id,
            stage=self._stage,
            category=triage.category if triage else None,
            customer_id=triage.customer_id if triage else None,
            draft_source=draft.source if draft else None,
            flags=draft.flags if draft else (),
            dispute_id=triage.dispute.dispute_id if triage and triage.dispute else None,
            decided_by=decision.by if decision else None,
            outcome=self._outcome,
        )

    @workflow.query(name=DRAFT_QUERY)
    def draft(self) -> Draft | None:
        return self._draft

    async def _notify(self, kind: NoticeKind) -> None:
        ticket, triage, draft = self._ticket, self._triage, self._draft
        assert ticket is not None and triage is not None and draft is not None
        decision = self._decision
        await workflow.execute_activity_method(
            ZendeskActivities.notify_reviewers,
            ReviewNotice(
                kind=kind,
                workflow_id=workflow.info().workflow_id,
                ticket_id=ticket.ticket_id,
                ticket_subject=ticket.subject,
                requester=f"{ticket.requester_name} <{ticket.requester_email or 'no email'}>",
                customer=triage.customer_label,
                category=triage.category,
                channel=triage.review_channel,
                draft=draft,
                at=workflow.now(),
                decided_by=decision.by if decision else None,
                outcome=_describe(decision) if decision and kind == "decided" else None,
            ),
            start_to_close_timeout=ZENDESK_TIMEOUT,
            retry_policy=RETRY,
        )

    def _finish(self, outcome: Outcome) -> TicketOutcome:
        self._stage = "done"
        self._outcome = outcome
        triage, decision = self._triage, self._decision
        return TicketOutcome(
            ticket_id=self._ticket_id,
            outcome=outcome,
            category=triage.category if triage else None,
            decided_by=decision.by if decision else None,
            dispute_id=triage.dispute.dispute_id if triage and triage.dispute else None,
        )


def _describe(decision: ReplyDecision) -> str:
    what = "public reply" if decision.action == "send" else "internal note"
    return f"{'edited ' if decision.body else ''}{what}"
