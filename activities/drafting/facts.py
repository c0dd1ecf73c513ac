"""What a draft is made from and what it comes back as.

A caller (collections, disputes, orders, the ticket workflow) hands over two
things it already has: the values its Jinja2 template renders with, and the
facts behind them as exact types (Decimal amounts with their currency, dates,
invoice numbers, percentages). The template renders the template-only draft;
the facts are what the model may quote and what the grounding check holds
the model's draft to.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from activities.drafting.claims import ClaimKind


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


#: An ISO 4217 code's shape. Checked against the currency list where amounts are formatted,
#: not here: these models are decoded inside workflows, whose sandbox forbids babel's file reads.
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Money(_Frozen):
    """An amount in its currency, exactly as a deterministic activity computed it."""

    amount: Decimal
    currency: CurrencyCode


class InvoiceRef(_Frozen):
    """An invoice the message talks about."""

    number: str
    currency: CurrencyCode
    balance: Decimal
    total: Decimal | None = None
    due_date: date | None = None
    issue_date: date | None = None


class DraftFacts(_Frozen):
    """Everything the message may state. Names (the dict keys) tell the model what each is."""

    #: None when the customer is not known (a ticket from an unmatched address).
    customer_id: str | None
    customer_name: str
    invoices: tuple[InvoiceRef, ...] = ()
    #: Named amounts: ``total_due``, ``credit_amount``, ``promise_amount``, ...
    amounts: dict[str, Money] = Field(default_factory=dict)
    #: Named dates: ``promise_date``, ``service_end``, ...
    dates: dict[str, date] = Field(default_factory=dict)
    #: Named percentages as numbers of per cent (``Decimal("5")`` is 5 %).
    percentages: dict[str, Decimal] = Field(default_factory=dict)
    #: Named counts: ``days_overdue``, ``seats``, ...
    counts: dict[str, int] = Field(default_factory=dict)
    #: Identifiers and links the message may quote: dispute id, PO number, payment link.
    references: dict[str, str] = Field(default_factory=dict)
    #: What the ledger says is so, by kind (``paid``, ``resolved``, ...): the only ground a
    #: claim without a figure in the model's words stands on (:mod:`claims`). Set by the
    #: activity from its own records, never from what the customer wrote.
    statuses: tuple[ClaimKind, ...] = ()


class DraftRequest(_Frozen):
    """One message to draft.

    ``kind`` names the template under ``prompts/`` without its ``.j2``
    suffix (``collections/reminder``, ``tickets/payment_status``); the
    template's first line is ``Subject: ...``. ``values`` is the template's
    context, JSON values only (amounts already formatted for people), so it
    survives Temporal's serialisation unchanged.
    """

    kind: str = Field(pattern=r"^[a-z0-9_]+/[a-z0-9_]+$")
    values: dict[str, JsonValue]
    facts: DraftFacts
    #: The customer's own words this message answers (a ticket body, an email):
    #: quoted to the model as data, never as instructions.
    customer_text: str | None = None
    #: Outside text the template shows, by name (the customer's legal name, a
    #: requester's name, an analyst's note): rendered as ``Untrusted``, shown only
    #: quoted, never a fact. A name here wins over the same name in ``values``.
    untrusted: dict[str, str] = Field(default_factory=dict)
    #: Findings made on intake, before the text reached the request (invisible characters
    #: removed from a ticket): they stay on the draft so its reviewer sees them.
    intake_flags: tuple[str, ...] = ()
    #: What the draft is for, for the audit log: ``ticket-123:reply``,
    #: ``collections:CUS-1:2026-11-01:reminder``.
    reference: str
    #: Who asks: ``workflow:<id>``, ``slack:<user>``.
    actor: str
    #: The caller's clock (a workflow's ``now``): drafting never reads the wall clock.
    now: datetime


class DraftText(BaseModel):
    """The draft the model returns (its structured output)."""

    subject: str = Field(description="Email subject line: one line, plain text, placeholders")
    body: str = Field(
        description="Email body, plain text, signed like the reference draft; "
        "every figure, date, id and link as a {placeholder}"
    )
    approver_summary: str = Field(
        description="One line for the person approving: what the message says and asks"
    )


Source = Literal["template", "model", "model_retry", "template_fallback"]


class Draft(_Frozen):
    """A draft ready for approval or sending, and how it came to be."""

    kind: str
    subject: str
    body: str
    approver_summary: str
    #: ``template``: no model configured; ``model``: grounded on the first try;
    #: ``model_retry``: grounded after one retry; ``template_fallback``: the
    #: model's drafts failed grounding (or the model failed), the template was used.
    source: Source
    #: Mismatches and errors found on the way, oldest first (empty when none).
    problems: tuple[str, ...] = ()
    #: Hostile-text findings in the customer's words or the model's draft.
    flags: tuple[str, ...] = ()
    #: Sentences in the model's own words, each with why a person must read it
    #: (no ledger record backs it): such a draft has not earned going out alone.
    held: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def needs_human(self) -> bool:
        """A person must read this draft before it goes out: hostile text, or the model's
        own words."""
        return bool(self.flags or self.held)

    @property
    def review_reasons(self) -> tuple[str, ...]:
        """Why a person must read it, for the reviewer: flags first, then held sentences."""
        return self.flags + self.held
