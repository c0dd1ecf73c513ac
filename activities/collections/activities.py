"""The collections activities: the side effects a cadence workflow asks for.

Each takes one pydantic input whose ``now`` comes from the workflow's clock,
so the activities never read the wall clock and time-skipping tests see the
workflow's time. Every write is keyed by customer, cycle and step: a retried
activity or a replayed workflow never emails, posts or suspends twice.

A step a person must approve is drafted first: ``collections.prepare_email``
drafts it (same path, same checks), stores the text under the step's key and
revision, and the approval request shows it; once approved,
``collections.send_prepared`` sends exactly that stored text, and only while
the figures it states still hold (otherwise the workflow drafts it again and
asks again). Every other customer email is drafted inside ``collections.send_email``
with the :class:`~activities.drafting.compose.Drafter` (the template alone without an
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
from collections.abc import Callable
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
from activities.ledger import audit, locks
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.models import IdempotencyKey
from activities.outbox import Email, Outbox, SentEntry, Withheld
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
    #: An approved draft was not sent: the figures it states no longer hold.
    stale: bool = False


class PreparedStep(BaseModel):
    """A step to draft before it is approved; ``revision`` counts re-drafts of the step."""

    email: EmailStep
    revision: int


class PreparedEmail(BaseModel):
    """What the approver is shown: the exact email (or why none will go out)."""

    key: str
    to: list[str] = []
    subject: str | None = None
    body: str | None = None
    reason: str | None = None

    @property
    def preview(self) -> str:
        if self.subject is None or self.body is None:
            return f"No email will be sent: {self.reason}."
        return f"To: {', '.join(self.to)}\nSubject: {self.subject}\n\n{self.body}"


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


#: Drafts of one email in one attempt when payments keep landing during the drafting; then
#: the activity fails (retryable) and Temporal tries again later.
REDRAFTS = 3


def _key(step: EmailStep | TeamStep) -> str:
    """The outbox key of a step's email: one email per customer, cycle and step."""
    return f"collections:{step.customer_id}:{step.cycle}:{step.step}"


def _draft_key(step: EmailStep, revision: int) -> str:
    """Where a step's draft waits for its approval; a re-draft is a new revision."""
    return f"draft:{_key(step)}:r{revision}"


_CHANGED_SINCE_APPROVAL = "the figures changed after the draft was approved"


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

    def _recipients(self, step: EmailStep, key: str, snapshot: AccountSnapshot) -> list[str]:
        """The account's billing contacts; with none, the team is told (once per key)."""
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
        return recipients

    @activity.defn(name="collections.send_email")
    def send_email(self, step: EmailStep) -> EmailSent:
        """Draft the consolidated email from fresh facts, queue it under its key, deliver it.

        Drafting takes seconds (a model call) and the customer may pay meanwhile: the
        figures are checked again where the email is queued (:meth:`_still_states`), and a
        draft they no longer match is drafted again from the account as it now is."""
        key = _key(step)
        for _ in range(REDRAFTS):
            snapshot = self._snapshot(step.customer_id, step.now)
            if not snapshot.collectible:
                return EmailSent(key=key, sent=False, reason="nothing left to collect")
            recipients = self._recipients(step, key, snapshot)
            if not recipients:
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
            check = self._still_states(step, emails.figures(values))
            try:
                delivery = self.outbox.send(key, step.customer_id, email, step.now, sent, check)
            except Withheld:
                continue  # the account changed while the email was drafted: draft it again
            return EmailSent(key=key, sent=True, already_sent=delivery.already_sent)
        raise ApplicationError(
            f"{key}: the account changed during each of {REDRAFTS} drafts; retrying later",
            type="FiguresChanged",
        )

    def _still_states(self, step: EmailStep, drafted: dict[str, Any]) -> Callable[[Session], None]:
        """The outbox's check: under the customer's row lock (the one every payment, credit
        and refund takes first), the account still shows the figures the email states."""

        def check(session: Session) -> None:
            try:
                locks.customer(session, step.customer_id)
                snapshot = store.load_snapshot(session, self.book, step.customer_id, step.now)
            except (CadenceError, LedgerError) as error:
                raise _refuse(error) from None
            now = emails.figures(emails.facts(snapshot, self.book, promise=step.promise))
            if now != drafted:
                raise Withheld(f"{_key(step)}: the figures changed while the email was drafted")

        return check

    @activity.defn(name="collections.prepare_email")
    def prepare_email(self, prepared: PreparedStep) -> PreparedEmail:
        """Draft a step that waits for approval and store the draft under the step's key and
        revision (the first stored draft wins: a retry returns it and does not ask the model
        again), with the figures it states; the approver is shown exactly this text."""
        step = prepared.email
        key = _key(step)
        draft_key = _draft_key(step, prepared.revision)
        with self.sessions() as session:
            stored = store.saved_draft(session, draft_key)
        if stored is None:
            stored = self._store_draft(step, key, draft_key)
        return PreparedEmail(key=key, **stored["email"])

    def _store_draft(self, step: EmailStep, key: str, draft_key: str) -> dict[str, Any]:
        snapshot = self._snapshot(step.customer_id, step.now)
        values = emails.facts(snapshot, self.book, promise=step.promise)
        email: dict[str, Any] = {"reason": "nothing left to collect"}
        source, flags = "none", list[str]()
        recipients = self._recipients(step, key, snapshot) if snapshot.collectible else []
        if recipients:
            text, source, flags = self._draft(step, key, snapshot, values, recipients)
            email = {"to": list(text.to), "subject": text.subject, "body": text.body}
        elif snapshot.collectible:
            email = {"reason": "no billing contact"}
        stored = {
            "email": email,
            "figures": emails.figures(values),
            "draft": source,
            "flags": flags,
        }
        try:
            with transaction(self.sessions) as session:
                store.save_draft(session, draft_key, stored, step.now)
        except LedgerError:  # another attempt stored its draft first: that one stands
            with self.sessions() as session:
                first = store.saved_draft(session, draft_key)
            if first is None:
                raise
            return first
        return stored

    @activity.defn(name="collections.send_prepared")
    def send_prepared(self, prepared: PreparedStep) -> EmailSent:
        """Send the draft a person approved, as stored, if the figures it states still hold.

        Stale figures (a payment, a credit, an invoice now past due) send nothing and say
        so: the workflow drafts the step again and asks again. Once the email is in the
        outbox, a retry delivers it whatever happened since."""
        step = prepared.email
        key = _key(step)
        with self.sessions() as session:
            stored = store.saved_draft(session, _draft_key(step, prepared.revision))
            queued = store.email_queued(session, key)
        if stored is None:
            raise _refuse(NotFound(f"draft: no stored draft for {key} r{prepared.revision}"))
        if not queued:
            snapshot = self._snapshot(step.customer_id, step.now)
            now = emails.figures(emails.facts(snapshot, self.book, promise=step.promise))
            if now != stored["figures"]:
                return EmailSent(key=key, sent=False, stale=True, reason=_CHANGED_SINCE_APPROVAL)
        email = PreparedEmail(key=key, **stored["email"])
        if email.subject is None or email.body is None:
            return EmailSent(key=key, sent=False, reason=email.reason)
        sent = SentEntry(
            actor=f"workflow:{step.workflow_id}",
            action="collections.email_sent",
            subject_type="customer",
            subject_id=step.customer_id,
            after={
                "step": step.step,
                "key": key,
                "invoices": [i[0] for i in stored["figures"]["invoices"]],
                "total": stored["figures"]["total"],
                "draft": stored["draft"],
                "flags": stored["flags"],
                "approved_revision": prepared.revision,
            },
        )
        message = Email(to=tuple(email.to), subject=email.subject, body=email.body)
        # The check above read without a lock: a payment committed since must be seen
        # where the email is queued, under the customer's lock, as in send_email.
        check = self._still_states(step, stored["figures"])
        try:
            delivery = self.outbox.send(key, step.customer_id, message, step.now, sent, check)
        except Withheld:
            return EmailSent(key=key, sent=False, stale=True, reason=_CHANGED_SINCE_APPROVAL)
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
        key = _key(step)
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
        key = _key(step)
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
