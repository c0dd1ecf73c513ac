"""The ticket workflow's side effects: read the ticket, triage it, show the draft, post the reply.

Each activity takes one pydantic input, with the workflow's ``now`` where
time matters. Posting is idempotent twice over: a ledger key per ticket
reply, and the Zendesk tag set in the same update as the comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.approvals import people
from activities.approvals.matrix import ApprovalMatrix
from activities.disputes.activities import DisputeIntake
from activities.documents.store import document_bytes, issue_invoice_documents
from activities.drafting import hostile
from activities.drafting.facts import DraftRequest
from activities.ledger import audit
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import IdempotencyKey, Invoice
from activities.zendesk import facts as reply_facts
from activities.zendesk.classify import classify
from activities.zendesk.client import ZendeskRefused
from activities.zendesk.matching import match_customer
from activities.zendesk.policy import Category, TicketPolicy
from activities.zendesk.review import ReviewNotice, ReviewNotifier
from activities.zendesk.tickets import ReplyToPost, TicketView, fetch_ticket, post_reply

if TYPE_CHECKING:
    from zenpy import Zenpy  # loaded with the client (activities/zendesk/client.py)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class FetchTicket(_Model):
    ticket_id: int


class TriageRequest(_Model):
    ticket: TicketView
    workflow_id: str
    now: datetime


class Reviewer(_Model):
    """Someone who may decide a reply: the matrix handle, Slack id and email."""

    handle: str
    slack: str
    email: str

    def is_(self, identity: str) -> bool:
        """True when the actor string ``identity`` names this reviewer (the one resolver)."""
        return people.find((self,), identity) is not None


class TicketTriage(_Model):
    """What the workflow needs to go on: who, what kind, what to draft, and who decides."""

    category: Category
    customer_id: str | None
    customer_label: str
    request: DraftRequest
    flags: tuple[str, ...]
    dispute: DisputeIntake | None
    reviewers: tuple[Reviewer, ...]
    reviewer_roles: tuple[str, ...]
    review_channel: str
    review_reminder_hours: int
    auto_send: bool


class PostReply(_Model):
    ticket_id: int
    workflow_id: str
    customer_id: str | None
    category: Category
    body: str
    public: bool
    draft_source: str
    flagged: bool
    decided_by: str
    now: datetime


class PostedReply(_Model):
    #: False when the reply was found already posted (a retry, or a replayed workflow).
    posted: bool


def _intake_flags(ticket: TicketView) -> tuple[str, ...]:
    """Hostile-text findings in what the requester wrote, and the hidden characters removed."""
    found = hostile.inspect(f"{ticket.subject}\n{ticket.text}\n{ticket.requester_name}")
    flags = [str(f) for f in found]
    if ticket.hidden_characters:
        flags.insert(
            0, f"hidden text: {ticket.hidden_characters} invisible or bidi characters removed"
        )
    return tuple(flags)


#: Invoice numbers as our replies print them (the ledger's series, INVOICE_SERIES).
INVOICE_NUMBER = re.compile(r"\bINV-\d+\b")


def dispute_id_for(ticket_id: int) -> str:
    return f"ZD-{ticket_id}"


#: The account changes the dispute workflow can carry out (a corrected invoice re-issued).
CHANGES_BY_DISPUTE = ("billing address", "PO number")


def _intake_invoices(category: Category, found: reply_facts.ReplyFacts) -> tuple[str, ...]:
    """The invoices a dispute opened from the ticket is about; empty when none should open."""
    if category == "dispute":
        return found.named_invoices
    if found.values.get("change") in CHANGES_BY_DISPUTE:
        return tuple(i.number for i in found.facts.invoices)
    return ()


@contextmanager
def _refusals() -> Iterator[None]:
    """Bad data or a refusing Zendesk will not improve by retrying: fail the activity for good."""
    try:
        yield
    except (ZendeskRefused, LedgerError) as error:
        raise ApplicationError(str(error), type=type(error).__name__, non_retryable=True) from None


class ZendeskActivities:
    """Bound at worker start to the ledger, a Zendesk client factory, the policy and the matrix."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: Callable[[], Zenpy],
        policy: TicketPolicy,
        matrix: ApprovalMatrix,
        notifier: ReviewNotifier,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.policy = policy
        self.matrix = matrix
        self.notifier = notifier

    @activity.defn(name="zendesk.fetch_ticket")
    def fetch_ticket(self, request: FetchTicket) -> TicketView:
        with _refusals():
            return fetch_ticket(self.client(), request.ticket_id)

    @activity.defn(name="zendesk.triage_ticket")
    def triage_ticket(self, request: TriageRequest) -> TicketTriage:
        """Match the customer, classify, gather the facts and say what to draft."""
        ticket = request.ticket
        category = classify(ticket.subject, ticket.text)
        flags = _intake_flags(ticket)
        with _refusals(), self.sessions() as session:
            match = match_customer(
                session,
                ticket.requester_email,
                ticket.organization_external_id,
                ticket.organization_name,
            )
            customer_id = match.customer_id
            if customer_id is None:
                kind, found = "unmatched", reply_facts.unmatched_facts(ticket, self.policy)
            else:
                kind = category
                found = reply_facts.gather(
                    session,
                    customer_id=customer_id,
                    category=category,
                    ticket=ticket,
                    policy=self.policy,
                    today=request.now.date(),
                )
        values, facts = found.values, found.facts
        dispute = None
        if category in ("dispute", "account_change") and customer_id is not None:
            # A dispute on the customer's own named invoices, or a change of billing address or
            # PO number (the dispute workflow's po_or_address path: a person triages it with the
            # corrected details, the approval matrix approves, the invoices are re-issued).
            # Never on a flagged ticket: a person reads it first and opens what is right.
            invoices = _intake_invoices(category, found)
            values["dispute_id"] = ""
            if invoices and not flags:
                dispute_id = dispute_id_for(ticket.ticket_id)
                values["dispute_id"] = dispute_id
                facts = facts.model_copy(
                    update={"references": {**facts.references, "dispute_id": dispute_id}}
                )
                what = (
                    "disputes"
                    if category == "dispute"
                    else f"asks to change the {values.get('change')}"
                )
                dispute = DisputeIntake(
                    dispute_id=dispute_id,
                    customer_id=customer_id,
                    invoices=list(invoices),
                    claim=f"Zendesk ticket #{ticket.ticket_id} {what}: {ticket.subject}\n\n"
                    f"{ticket.text}",
                    opened_by=f"workflow:{request.workflow_id}",
                )
        return TicketTriage(
            category=category,
            customer_id=customer_id,
            customer_label=(
                f"{facts.customer_name} ({customer_id})" if customer_id else "no account"
            ),
            request=DraftRequest(
                kind=f"tickets/{kind}",
                values=values,
                facts=facts,
                customer_text=f"Subject: {ticket.subject}\n\n{ticket.text}",
                untrusted=(
                    {"customer_name": facts.customer_name, "requester_name": ticket.requester_name}
                    if customer_id
                    else {"requester_name": ticket.requester_name}
                ),
                intake_flags=flags,
                reference=f"{request.workflow_id}:reply",
                actor=f"workflow:{request.workflow_id}",
                now=request.now,
            ),
            flags=flags,
            dispute=dispute,
            reviewers=tuple(
                Reviewer(handle=p.handle, slack=p.slack, email=p.email)
                for p in self.matrix.people
                if set(p.roles) & set(self.policy.reviewer_roles)
            ),
            reviewer_roles=self.policy.reviewer_roles,
            review_channel=self.policy.review_channel,
            review_reminder_hours=self.policy.review_reminder_hours,
            # Earned, not configured: the category must be one the team lets go out alone,
            # the requester a verified billing contact of exactly one account, nothing
            # flagged; the workflow adds the draft's own condition (template text and
            # filled placeholders only: Draft.needs_human is false).
            auto_send=match.by == "email" and not flags and category in self.policy.auto_send,
        )

    @activity.defn(name="zendesk.notify_reviewers")
    def notify_reviewers(self, notice: ReviewNotice) -> None:
        self.notifier.post(notice)

    @activity.defn(name="zendesk.post_reply")
    def post_reply(self, request: PostReply) -> PostedReply:
        """Post the reply once, tag the ticket, and audit who sent what."""
        key = f"zendesk:ticket-{request.ticket_id}:reply"
        with self.sessions() as session:
            if session.get(IdempotencyKey, key) is not None:
                return PostedReply(posted=False)
        tags = ["billing_ops", f"billing_{request.category}", f"billing_ops_{request.draft_source}"]
        if request.flagged:
            tags.append("billing_ops_flagged")
        attachments = self._invoice_copies(request)
        with _refusals():
            posted = post_reply(
                self.client(),
                ReplyToPost(
                    ticket_id=request.ticket_id,
                    body=request.body,
                    public=request.public,
                    tags=tuple(tags),
                    status="pending" if request.public else None,
                    attachments=attachments,
                ),
            )
        with transaction(self.sessions) as session:
            if session.get(IdempotencyKey, key) is None:
                session.add(
                    IdempotencyKey(
                        key=key,
                        action="zendesk_reply",
                        result={"public": request.public},
                        created_at=request.now,
                    )
                )
                audit.record(
                    session,
                    at=request.now,
                    actor=request.decided_by,
                    action="zendesk.reply_posted" if request.public else "zendesk.note_posted",
                    subject_type="customer" if request.customer_id else "ticket",
                    subject_id=request.customer_id or str(request.ticket_id),
                    after={
                        "ticket": request.ticket_id,
                        "category": request.category,
                        "public": request.public,
                        "draft": request.draft_source,
                        "flagged": request.flagged,
                        "body": request.body,
                    },
                    reason=f"reply to Zendesk ticket #{request.ticket_id}",
                )
        return PostedReply(posted=posted)

    def _invoice_copies(self, request: PostReply) -> tuple[tuple[str, str, bytes], ...]:
        """For a public invoice-copy reply: the documents of the invoices the reply names,
        and only those of the requester's own account (another account's number in the
        text attaches nothing)."""
        if request.category != "invoice_copy" or not request.public or not request.customer_id:
            return ()
        numbers = sorted(set(INVOICE_NUMBER.findall(request.body)))
        if not numbers:
            return ()
        try:
            return self._documents_of(request, numbers)
        except ValueError as error:  # an e-invoice breaking a rule, a name the font lacks
            raise ApplicationError(
                str(error), type=type(error).__name__, non_retryable=True
            ) from None

    def _documents_of(
        self, request: PostReply, numbers: list[str]
    ) -> tuple[tuple[str, str, bytes], ...]:
        with transaction(self.sessions) as session:
            own = session.scalars(
                select(Invoice)
                .where(Invoice.customer_id == request.customer_id, Invoice.number.in_(numbers))
                .order_by(Invoice.number)
            ).all()
            return tuple(
                (document.filename, document.media_type, document_bytes(document))
                for invoice in own
                for document in issue_invoice_documents(
                    session, invoice, actor=request.decided_by, now=request.now
                )
            )

    def all(self) -> list[Callable[..., object]]:
        """Every Zendesk activity, for the worker's registry."""
        return [self.fetch_ticket, self.triage_ticket, self.notify_reviewers, self.post_reply]
