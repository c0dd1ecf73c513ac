"""The collections activities: the side effects a cadence workflow asks for.

Each takes one pydantic input whose ``now`` comes from the workflow's clock,
so the activities never read the wall clock and time-skipping tests see the
workflow's time. Every write is keyed by customer, cycle and step: a retried
activity or a replayed workflow never emails, posts or suspends twice.

Customer emails are drafted inside ``collections.send_email`` with the
:class:`~activities.drafting.compose.Drafter` (the template alone without an
OpenAI key; the model, held to the facts, with one), not by a separate
``drafting.draft_message`` step in the workflow. The draft is made from the
facts read in the same activity that sends it, so the email cannot quote
figures older than the send; the workflow's commands, and so its recorded
histories, stay as they were; and the outbox key stays the one idempotency
point: once an email is queued under its key, a retry sends that first draft
and does not ask the model again.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.collections import emails, store
from activities.collections.cadence import CadenceBook, CadenceError
from activities.collections.client import start_or_nudge
from activities.collections.facts import AccountSnapshot, PromiseFact
from activities.drafting.compose import Drafter
from activities.drafting.facts import DraftRequest
from activities.ledger import audit
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import IdempotencyKey
from activities.outbox import Email, Outbox, SentEntry
from activities.slack_text import Mrkdwn, escape
from activities.team_notices import Notice, TeamNotices


class LoadAccount(BaseModel):
    customer_id: str
    as_of: datetime


class EmailStep(BaseModel):
    customer_id: str
    workflow_id: str
    cycle: str
    step: str
    template: str
    now: datetime
    promise: PromiseFact | None = None


class EmailSent(BaseModel):
    key: str
    sent: bool
    already_sent: bool = False
    reason: str | None = None


class TeamStep(BaseModel):
    customer_id: str
    workflow_id: str
    cycle: str
    step: str
    now: datetime
    emails_sent: int = 0


class SettlePromise(BaseModel):
    workflow_id: str
    promise_id: int
    deadline: datetime
    now: datetime


class PromiseRequest(BaseModel):
    customer_id: str
    amount: Decimal
    currency: str
    promised_date: date
    grace_days: int = 3
    actor: str
    now: datetime
    idempotency_key: str


class SweepRequest(BaseModel):
    as_of: datetime
    task_queue: str


class SweepResult(BaseModel):
    accounts: list[str]


def _refuse(error: Exception) -> ApplicationError:
    """Bad data or configuration: retrying cannot help, so fail the activity for good."""
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)


class CollectionsActivities:
    """Bound to the ledger, the cadence book, the outbox and the team channel at worker start."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        book: CadenceBook,
        outbox: Outbox,
        notices: TeamNotices,
        drafter: Drafter,
        templates: Path = emails.TEMPLATES,
    ) -> None:
        self.sessions = sessions
        self.book = book
        self.outbox = outbox
        self.notices = notices
        self.drafter = drafter
        self.templates = templates

    def _snapshot(self, customer_id: str, as_of: datetime) -> AccountSnapshot:
        try:
            with self.sessions() as session:
                return store.load_snapshot(session, self.book, customer_id, as_of)
        except (CadenceError, LedgerError) as error:
            raise _refuse(error) from None

    @activity.defn(name="collections.load_account")
    def load_account(self, request: LoadAccount) -> AccountSnapshot:
        """The account's facts as of the workflow's now."""
        return self._snapshot(request.customer_id, request.as_of)

    @activity.defn(name="collections.send_email")
    def send_email(self, step: EmailStep) -> EmailSent:
        """Draft the consolidated email from fresh facts, queue it under its key, deliver it."""
        key = f"collections:{step.customer_id}:{step.cycle}:{step.step}"
        snapshot = self._snapshot(step.customer_id, step.now)
        if not snapshot.collectible:
            return EmailSent(key=key, sent=False, reason="nothing left to collect")
        with self.sessions() as session:
            recipients = store.billing_emails(session, step.customer_id)
        if not recipients:
            self.notices.post(
                Notice(
                    key=f"{key}:no-contact",
                    channel=self.book.team_channel,
                    text=Mrkdwn(
                        f"{escape(snapshot.legal_name)} ({escape(step.customer_id)}) has no "
                        f"billing contact: the {step.step} email could not be sent."
                    ),
                ),
                step.now,
            )
            return EmailSent(key=key, sent=False, reason="no billing contact")
        values = emails.facts(snapshot, self.book, promise=step.promise)
        with self.sessions() as session:
            queued = store.email_queued(session, key)
        flags: list[str] = []
        if queued:  # a retry: the outbox sends the draft it holds under the key
            email = emails.render_email(step.template, values, recipients, self.templates)
            source = "queued"
        else:
            email, source, flags = self._draft(step, key, snapshot, values, recipients)
        sent = SentEntry(
            actor=f"workflow:{step.workflow_id}",
            action="collections.email_sent",
            subject_type="customer",
            subject_id=step.customer_id,
            after={
                "step": step.step,
                "key": key,
                "invoices": [i["number"] for i in values["invoices"]],
                "total": values["total"],
                "draft": source,
                "flags": flags,
            },
        )
        delivery = self.outbox.send(key, step.customer_id, email, step.now, sent)
        return EmailSent(key=key, sent=True, already_sent=delivery.already_sent)

    def _draft(
        self,
        step: EmailStep,
        key: str,
        snapshot: AccountSnapshot,
        values: dict[str, Any],
        recipients: list[str],
    ) -> tuple[Email, str, list[str]]:
        """The email, where its text came from, and any flags; a flagged model draft is
        replaced by the template (nothing flagged goes out without a person reading it)."""
        text, source, flags = self.drafter.unattended(
            DraftRequest(
                kind=f"collections/{step.template}",
                values=values,
                facts=emails.draft_facts(snapshot, values, step.promise),
                untrusted={"customer_name": snapshot.legal_name},
                reference=key,
                actor=f"workflow:{step.workflow_id}",
                now=step.now,
            )
        )
        return (
            Email(to=tuple(recipients), subject=text.subject, body=text.body),
            source,
            list(flags),
        )

    @activity.defn(name="collections.escalate_to_owner")
    def escalate_to_owner(self, step: TeamStep) -> str:
        """Post the escalation for the account owner in the collections channel."""
        snapshot = self._snapshot(step.customer_id, step.now)
        values = emails.facts(snapshot, self.book, emails_sent=step.emails_sent)
        text = emails.render_slack("escalation", values, self.templates)
        key = f"collections:{step.customer_id}:{step.cycle}:{step.step}"
        return self.notices.post(Notice(key, self.book.team_channel, text), step.now).where

    @activity.defn(name="collections.suspend_account")
    def suspend_account(self, step: TeamStep) -> list[str]:
        """Suspend the account's entitlements (idempotent: suspended ones stay suspended)."""
        with transaction(self.sessions) as session:
            return store.suspend_entitlements(
                session,
                step.customer_id,
                actor=f"workflow:{step.workflow_id}",
                now=step.now,
                reason=f"collections step {step.step} (cycle {step.cycle})",
            )

    @activity.defn(name="collections.hand_to_write_off_review")
    def hand_to_write_off_review(self, step: TeamStep) -> str:
        """Record the hand-off in the audit log (once) and tell the team; the cadence ends."""
        snapshot = self._snapshot(step.customer_id, step.now)
        values = emails.facts(snapshot, self.book)
        text = emails.render_slack("write_off_review", values, self.templates)
        key = f"collections:{step.customer_id}:{step.cycle}:{step.step}"
        with transaction(self.sessions) as session:
            if session.get(IdempotencyKey, f"audit:{key}") is None:
                session.add(
                    IdempotencyKey(
                        key=f"audit:{key}",
                        action="write_off_review",
                        result={},
                        created_at=step.now,
                    )
                )
                audit.record(
                    session,
                    at=step.now,
                    actor=f"workflow:{step.workflow_id}",
                    action="collections.write_off_review",
                    subject_type="customer",
                    subject_id=step.customer_id,
                    after={"total": values["total"], "invoices": values["invoice_count"]},
                )
        return self.notices.post(Notice(key, self.book.team_channel, text), step.now).where

    @activity.defn(name="collections.settle_promise")
    def settle_promise(self, request: SettlePromise) -> str:
        """Decide whether the promise was kept; returns ``kept`` or ``broken``."""
        with transaction(self.sessions) as session:
            return store.settle_promise(
                session,
                request.promise_id,
                deadline=request.deadline,
                actor=f"workflow:{request.workflow_id}",
                now=request.now,
            ).value

    @activity.defn(name="collections.record_promise")
    def record_promise(self, request: PromiseRequest) -> PromiseFact:
        """Record a promise to pay (CLI, Slack); signal the cadence afterwards."""
        try:
            with transaction(self.sessions) as session:
                return store.record_promise(
                    session,
                    customer_id=request.customer_id,
                    amount=request.amount,
                    currency=request.currency,
                    promised_date=request.promised_date,
                    grace_days=request.grace_days,
                    actor=request.actor,
                    now=request.now,
                    idempotency_key=request.idempotency_key,
                )
        except LedgerError as error:
            raise _refuse(error) from None

    @activity.defn(name="collections.sweep_overdue_accounts")
    async def sweep_overdue_accounts(self, request: SweepRequest) -> SweepResult:
        """Start or signal the cadence of every account with something due or overdue.

        Signal-with-start on ``collections-<customer>``: a running cadence just
        re-reads its account, a missing one starts. Running the sweep twice is safe.
        """
        with self.sessions() as session:
            accounts = store.accounts_to_sweep(session, request.as_of.date(), self.book.lead_days)
        client = activity.client()
        limit = asyncio.Semaphore(32)

        async def touch(customer_id: str) -> None:
            async with limit:
                await start_or_nudge(client, customer_id, request.task_queue, "daily sweep")
                activity.heartbeat(customer_id)

        await asyncio.gather(*(touch(c) for c in accounts))
        return SweepResult(accounts=accounts)
