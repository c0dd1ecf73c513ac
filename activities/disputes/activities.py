"""The dispute workflow's side effects as Temporal activities.

Each takes one pydantic model carrying the workflow's ``now`` and ids, and
is idempotent: the dispute's rows by its id, documents and emails by keys
derived from the workflow id and step. Refusals the ledger or the
re-pricing makes (an invoice of another customer, nothing to credit) are
raised as non-retryable ``ApplicationError`` with the reason, which the
workflow shows to people instead of retrying.

Customer emails are drafted inside ``disputes.email_customer`` with the shared
:class:`~activities.drafting.compose.Drafter`, as the collections emails are:
the template alone without an OpenAI key; with one, the model's draft held to
the dispute's invoices as the ledger has them when the email is sent, the
customer's claim handed over as data to answer. The workflow's commands (and
its recorded histories) stay as they were, and the outbox key stays the one
idempotency point: a retry sends the draft queued first and does not ask the
model again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.collections.client import start_or_nudge
from activities.collections.emails import render_email
from activities.collections.store import billing_emails, email_queued
from activities.disputes import resolution, store
from activities.disputes.resolution import Proposal
from activities.disputes.triage import Triage
from activities.documents.store import settlement_documents
from activities.drafting.compose import Drafter
from activities.drafting.facts import DraftFacts, DraftRequest, InvoiceRef
from activities.ledger.customers import get_customer
from activities.ledger.db import transaction
from activities.ledger.invoices import get_invoice
from activities.ledger.models import DisputeStatus
from activities.outbox import Email, Outbox
from activities.paths import PROMPTS_DIR
from activities.search_attributes import minor_units

TEMPLATES = PROMPTS_DIR / "disputes"

Closing = Literal["resolved", "rejected", "withdrawn"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class DisputeIntake(_Model):
    """The workflow's input: who disputes which invoices, and why (triage may come later)."""

    dispute_id: str
    customer_id: str
    invoices: list[str]
    claim: str
    opened_by: str
    triage: Triage | None = None


class OpenDispute(_Model):
    intake: DisputeIntake
    at: datetime


class RecordTriage(_Model):
    dispute_id: str
    triage: Triage
    actor: str
    at: datetime


class ProposeResolution(_Model):
    invoices: list[str]
    triage: Triage


class Settle(_Model):
    workflow_id: str
    proposal: Proposal
    triage: Triage
    reason: str
    at: datetime


class CloseDispute(_Model):
    dispute_id: str
    status: Closing
    actor: str
    reason: str
    at: datetime


class EmailCustomer(_Model):
    workflow_id: str
    dispute_id: str
    customer_id: str
    template: Literal["received", "resolved", "rejected", "withdrawn"]
    invoices: list[str]
    claim: str
    issued: list[str] = []
    reason: str = ""
    at: datetime


class EmailResult(_Model):
    sent: bool
    reason: str | None = None
    #: Where the text came from: ``template``, ``model``, ``model_retry``,
    #: ``template_fallback``, ``template_flagged`` (hostile text seen) or ``queued``.
    draft: str | None = None


class TellCollections(_Model):
    customer_id: str
    task_queue: str
    reason: str


@contextmanager
def _refusals() -> Iterator[None]:
    """Input the ledger or the engine refuses will be refused again: do not retry it."""
    try:
        yield
    except ValueError as error:  # LedgerError, RepriceError, InvoicingError, ...
        raise ApplicationError(str(error), type=type(error).__name__, non_retryable=True) from None


class DisputeActivities:
    """Bound to the ledger, the customer-email outbox and the drafter."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        outbox: Outbox,
        drafter: Drafter,
        templates: Path = TEMPLATES,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.drafter = drafter
        self.templates = templates

    @activity.defn(name="disputes.open")
    def open_dispute(self, request: OpenDispute) -> None:
        """Record the dispute and hold its invoices out of payments and collections."""
        intake = request.intake
        with _refusals(), transaction(self.sessions) as session:
            store.open_dispute(
                session,
                dispute_id=intake.dispute_id,
                customer_id=intake.customer_id,
                invoice_numbers=intake.invoices,
                claim=intake.claim,
                opened_by=intake.opened_by,
                at=request.at,
            )

    @activity.defn(name="disputes.triage")
    def record_triage(self, request: RecordTriage) -> None:
        with _refusals(), transaction(self.sessions) as session:
            facts = request.triage.model_dump(mode="json", exclude={"category"}, exclude_none=True)
            store.set_category(
                session,
                request.dispute_id,
                request.triage.category,
                facts,
                request.actor,
                request.at,
            )

    @activity.defn(name="disputes.propose")
    def propose_resolution(self, request: ProposeResolution) -> Proposal:
        """Compute the resolution: re-price, find the duplicate payment, or plan a re-issue."""
        with _refusals(), self.sessions() as session:
            proposal = resolution.propose(session, request.invoices, request.triage)
        amount_minor = minor_units(proposal.amount, proposal.currency)
        return proposal.model_copy(update={"amount_minor": amount_minor})

    @activity.defn(name="disputes.settle")
    def settle(self, request: Settle) -> list[str]:
        """Issue the approved credit notes, refund or re-issued invoices, each exactly once."""
        with _refusals(), transaction(self.sessions) as session:
            return resolution.settle(
                session,
                request.proposal,
                request.triage,
                key=f"{request.workflow_id}:settle",
                actor=f"workflow:{request.workflow_id}",
                reason=request.reason,
                at=request.at,
            )

    @activity.defn(name="disputes.close")
    def close_dispute(self, request: CloseDispute) -> None:
        """Close the dispute: its invoices return to payments and collections."""
        with _refusals(), transaction(self.sessions) as session:
            store.close_dispute(
                session,
                request.dispute_id,
                DisputeStatus(request.status),
                request.actor,
                request.reason,
                request.at,
            )

    @activity.defn(name="disputes.email_customer")
    def email_customer(self, request: EmailCustomer) -> EmailResult:
        """Tell the customer, drafted from a template in prompts/disputes; sent once per key."""
        key = f"{request.workflow_id}:email:{request.template}"
        with _refusals(), self.sessions() as session:
            customer = get_customer(session, request.customer_id)
            recipients = billing_emails(session, request.customer_id)
            facts = DraftFacts(
                customer_id=customer.id,
                customer_name=customer.legal_name,
                invoices=tuple(_invoice_ref(session, n) for n in request.invoices),
                references={"dispute_id": request.dispute_id},
                # Only the workflow's own outcome: a resolved dispute may be said resolved.
                statuses=("resolved",) if request.template == "resolved" else (),
            )
            queued = email_queued(session, key)
        if not recipients:
            return EmailResult(sent=False, reason=f"{request.customer_id} has no billing contact")
        values: dict[str, Any] = {
            "customer_name": facts.customer_name,
            "dispute_id": request.dispute_id,
            "invoices": request.invoices,
            "invoice_list": _listing(request.invoices),
            "claim": request.claim,
            "issued": request.issued,
            "reason": request.reason,
        }
        if queued:  # a retry: the outbox sends the draft it holds under the key
            email = render_email(request.template, values, recipients, self.templates)
            source = "queued"
        else:
            email, source = self._draft(request, key, values, facts, recipients)
        if request.template == "resolved" and not queued:
            email = replace(email, documents=self._settlement_documents(request))
        self.outbox.send(key, request.customer_id, email, request.at)
        return EmailResult(sent=True, draft=source)

    def _settlement_documents(self, request: EmailCustomer) -> tuple[int, ...]:
        """The credit notes' and re-issued invoices' documents, to attach to the email."""
        with _refusals(), transaction(self.sessions) as session:
            documents = settlement_documents(
                session,
                f"{request.workflow_id}:settle",
                actor=f"workflow:{request.workflow_id}",
                now=request.at,
            )
            return tuple(document.id for document in documents)

    def _draft(
        self,
        request: EmailCustomer,
        key: str,
        values: dict[str, Any],
        facts: DraftFacts,
        recipients: list[str],
    ) -> tuple[Email, str]:
        """The email and where its text came from; a flagged model draft is replaced by the
        template (nothing flagged goes out without a person reading it)."""
        text, source, _flags = self.drafter.unattended(
            DraftRequest(
                kind=f"disputes/{request.template}",
                values=values,
                facts=facts,
                customer_text=request.claim,
                untrusted={"customer_name": facts.customer_name, "reason": request.reason},
                reference=key,
                actor=f"workflow:{request.workflow_id}",
                now=request.at,
            )
        )
        return Email(to=tuple(recipients), subject=text.subject, body=text.body), source

    @activity.defn(name="disputes.tell_collections")
    async def tell_collections(self, request: TellCollections) -> None:
        """Nudge the account's collections cadence to re-read which invoices it may chase.

        Signal-with-start, as the daily sweep does: a running cadence re-reads the
        account, and one that had finished (everything was disputed) starts again.
        """
        await start_or_nudge(
            activity.client(), request.customer_id, request.task_queue, request.reason
        )

    def all(self) -> list[Callable[..., object]]:
        """Every dispute activity, for the worker's registry."""
        return [
            self.open_dispute,
            self.record_triage,
            self.propose_resolution,
            self.settle,
            self.close_dispute,
            self.email_customer,
            self.tell_collections,
        ]


def _invoice_ref(session: Session, number: str) -> InvoiceRef:
    """The invoice as the ledger has it now (after any credit), for the draft's facts."""
    invoice = get_invoice(session, number)
    return InvoiceRef(
        number=number,
        currency=invoice.currency,
        balance=invoice.balance,
        total=invoice.total,
        due_date=invoice.due_date,
        issue_date=invoice.issue_date,
    )


def _listing(numbers: list[str]) -> str:
    if len(numbers) == 1:
        return f"invoice {numbers[0]}"
    return f"invoices {', '.join(numbers[:-1])} and {numbers[-1]}"
