"""Invoices in the ledger: issuing a computed draft under a gapless number, and finding them.

Computing an invoice is the pure engine's job (activities.billing.invoicing);
this module only stores the result, exactly as computed, and audits it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from babel import Locale, UnknownLocaleError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from activities.billing.aging import OpenItem
from activities.billing.money import ZERO, format_money
from activities.ledger import audit
from activities.ledger.bulk import insert_rows, insert_with_ids
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError
from activities.ledger.models import CreditNote, Invoice, InvoiceLine, InvoiceStatus, LineKind
from activities.ledger.numbering import next_number, take_numbers

if TYPE_CHECKING:  # the engine and the seller's config load where invoices are issued, so
    # that listing invoices or an account's balance (bench/cli_start.py) does without them
    from activities.billing.invoicing import InvoiceDraft
    from activities.billing.seller import Seller

INVOICE_SERIES = "INV"

_Row = TypeVar("_Row")

#: The buyer's tax id an invoice prints, in this order of preference.
TAX_ID_SCHEMES = ("eu_vat", "gb_vat", "ch_vat", "no_vat", "au_abn", "ca_bn", "us_ein", "jp_cn")


class TaxIdRow(Protocol):
    @property
    def scheme(self) -> str: ...
    @property
    def value(self) -> str: ...


class Buyer(Protocol):
    """What an invoice reads of its customer: a :class:`Customer`, or the same columns as
    Core rows when a bill run's batch issues many invoices at once (recurring/batch.py)."""

    @property
    def id(self) -> str: ...
    @property
    def legal_name(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def payment_terms_days(self) -> int: ...
    @property
    def address_line1(self) -> str: ...
    @property
    def address_line2(self) -> str | None: ...
    @property
    def city(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def postal_code(self) -> str | None: ...
    @property
    def country(self) -> str: ...
    @property
    def tax_exempt(self) -> bool: ...
    @property
    def tax_ids(self) -> Sequence[TaxIdRow]: ...


@cache
def document_locale(country: str) -> str:
    """The locale a customer's documents format dates and amounts in: the most likely one
    for the country (``DE`` → ``de_DE``, ``JP`` → ``ja_JP``), English where babel knows none."""
    try:
        return str(Locale.parse(f"und_{country}"))
    except (UnknownLocaleError, ValueError):
        return "en_GB"


def billing_address(customer: Buyer) -> dict[str, Any]:
    """The customer's name and address as an invoice keeps them (JSON)."""
    return {
        "line1": customer.address_line1,
        "line2": customer.address_line2,
        "city": customer.city,
        "region": customer.region,
        "postal_code": customer.postal_code,
        "country": customer.country,
    }


def buyer_tax_id(customer: Buyer) -> tuple[str, str] | None:
    """The tax id printed for the buyer: (scheme, value), VAT ids first."""
    held = {tax_id.scheme: tax_id.value for tax_id in customer.tax_ids}
    for scheme in (*TAX_ID_SCHEMES, *sorted(held)):
        if scheme in held:
            return scheme, held[scheme]
    return None


class SellerFacts:
    """The seller's snapshot and payment instructions (per currency) as invoices keep
    them, taken once for a batch of invoices (:func:`issue_invoices`): one object each,
    shared by the batch's rows, so that their JSON is also written once (ledger/bulk.py)."""

    def __init__(self, seller: Seller) -> None:
        self.seller = seller
        self._snapshot: dict[str, Any] | None = None
        self._instructions: dict[str, dict[str, Any]] = {}

    def snapshot(self) -> dict[str, Any]:
        if self._snapshot is None:
            self._snapshot = self.seller.snapshot()
        return self._snapshot

    def instructions(self, currency: str) -> dict[str, Any]:
        found = self._instructions.get(currency)
        if found is None:
            found = self._instructions[currency] = self.seller.instructions_for(
                currency
            ).model_dump(mode="json", exclude_none=True)
        return found


def statement(
    customer: Buyer, draft: InvoiceDraft, seller: Seller, facts: SellerFacts | None = None
) -> dict[str, Any]:
    """What the invoice says as at issue: seller, buyer, address, tax wording, terms and how
    to pay. Documents print these, never today's customer or config."""
    tax_id = buyer_tax_id(customer)
    scheme, value = tax_id or (None, None)
    days = (draft.due_date - draft.issue_date).days
    if facts is None:
        facts = SellerFacts(seller)
    snapshot, instructions = facts.snapshot(), facts.instructions(draft.currency)
    return {
        "seller": snapshot,
        "buyer_name": customer.legal_name,
        "buyer_tax_scheme": scheme,
        "buyer_tax_id": value,
        "billing_address": billing_address(customer),
        "locale": document_locale(customer.country),
        "tax_category": draft.tax.category,
        "tax_label": draft.tax.label,
        "tax_exemption_reason": draft.tax.exemption_reason,
        "tax_exemption_code": draft.tax.exemption_code,
        "notes": {"notes": list(draft.notes)},
        "payment_terms": seller.terms_text(days),
        "payment_instructions": instructions,
    }


def check_draft(customer: Buyer, draft: InvoiceDraft) -> None:
    """Refuse a draft the customer cannot be invoiced for (:class:`LedgerError`)."""
    if draft.currency != customer.currency:
        raise LedgerError(
            f"currency: the invoice is in {draft.currency}, customer {customer.id} "
            f"is billed in {customer.currency}"
        )
    if draft.amount_due < ZERO:
        raise LedgerError(
            f"amount_due: {draft.amount_due} is negative; issue a credit note for a net credit"
        )


def invoice_values(
    customer: Buyer,
    draft: InvoiceDraft,
    seller: Seller,
    *,
    source_key: str,
    subscription_id: str | None,
    now: datetime,
    facts: SellerFacts | None = None,
) -> dict[str, Any]:
    """The invoice row's columns for a finalized ``draft``, all but its number."""
    from activities.billing.seller import SellerError

    try:
        says = statement(customer, draft, seller, facts)
    except SellerError as error:
        raise LedgerError(str(error)) from None
    return {
        "source_key": source_key,
        "customer_id": customer.id,
        "subscription_id": subscription_id,
        "currency": draft.currency,
        "status": _finalized_status(draft.amount_due),
        "issue_date": draft.issue_date,
        "due_date": draft.due_date,
        "period_start": draft.period_start,
        "period_end": draft.period_end,
        "po_number": draft.po_number,
        "subtotal": draft.subtotal,
        "discount_total": draft.discount_total,
        "tax_total": draft.tax_total,
        "total": draft.total,
        "credit_applied": draft.credit_applied,
        "amount_due": draft.amount_due,
        "balance": draft.amount_due,
        "created_at": now,
        **says,
    }


def line_values(draft: InvoiceDraft) -> list[dict[str, Any]]:
    """The draft's lines as rows, numbered from 1 in the engine's order."""
    return [
        {
            "position": position,
            "kind": LineKind(line.kind),
            "description": line.description,
            "item_code": line.item_code,
            "period_start": line.period_start,
            "period_end": line.period_end,
            "quantity": line.quantity,
            "unit_amount": line.unit_amount,
            "proration_fraction": line.proration_fraction,
            "amount": line.amount,
            "discount_amount": line.discount_amount,
            "tax_rate": line.tax_rate,
            "tax_amount": line.tax_amount,
            "tax_category": line.tax_category,
        }
        for position, line in enumerate(draft.lines, start=1)
    ]


def issue_invoice(
    session: Session,
    customer_id: str,
    draft: InvoiceDraft,
    *,
    source_key: str,
    actor: str,
    now: datetime,
    subscription_id: str | None = None,
    finalize: bool = True,
    seller: Seller | None = None,
) -> Invoice:
    """Store ``draft`` for the customer; the same ``source_key`` twice returns the first invoice.

    ``source_key`` names what produced the invoice (``bill-run:SUB-1:2026-11``,
    ``order:ORD-7``), which makes a retried bill run or activity harmless.
    A finalized invoice gets the next number of the series and is open for
    payment; a draft gets its number when it is finalized.
    """
    # A retry arrives in a later transaction and finds the committed invoice here. Two
    # writers issuing the same key at the same instant: the unique constraint refuses the
    # second at commit as LedgerBusy (errors.from_database), and its retry finds the first.
    # Not flushing keeps a bill run's inserts batched.
    from activities.billing.seller import load_seller

    with session.no_autoflush:
        existing = session.scalar(select(Invoice).where(Invoice.source_key == source_key))
        if existing is not None:
            return existing
        customer = get_customer(session, customer_id)
    check_draft(customer, draft)
    values = invoice_values(
        customer,
        draft,
        seller or load_seller(),
        source_key=source_key,
        subscription_id=subscription_id,
        now=now,
    )
    if not finalize:
        values["status"] = InvoiceStatus.DRAFT
    invoice = Invoice(
        number=next_number(session, INVOICE_SERIES) if finalize else None,
        lines=[InvoiceLine(**line) for line in line_values(draft)],
        **values,
    )
    session.add(invoice)
    if not finalize:
        session.flush()  # a draft is known by its id until it has a number
    _audit_issue(session, invoice, actor, now, "invoice.issued" if finalize else "invoice.drafted")
    return invoice


@dataclass(frozen=True, slots=True)
class ToIssue:
    """One checked draft of a batch (:func:`check_draft`), and what produced it."""

    customer: Buyer
    draft: InvoiceDraft
    source_key: str
    subscription_id: str | None


def issue_invoices(
    session: Session,
    batch: Sequence[ToIssue],
    *,
    actor: str,
    now: datetime,
    seller: Seller,
    entries: list[dict[str, Any]] | None = None,
) -> list[tuple[int, str]]:
    """Store a batch of finalized invoices with bulk inserts: (id, number) of each, in order.

    The numbers are one block of the series (:func:`take_numbers`), taken last so that
    the series row stays locked only while the rows are written. The caller has made
    sure no ``source_key`` is issued yet (the unique key refuses a duplicate anyway,
    and the whole batch with it). With ``entries``, the invoices' audit entries are
    added to that list for the caller to append with its own in one statement (in
    that order: the same rows and ids as two appends); otherwise appended here.
    """
    if not batch:
        return []
    facts = SellerFacts(seller)
    rows = [
        invoice_values(
            item.customer,
            item.draft,
            seller,
            source_key=item.source_key,
            subscription_id=item.subscription_id,
            now=now,
            facts=facts,
        )
        for item in batch
    ]
    numbers = take_numbers(session, INVOICE_SERIES, len(batch))
    for row, number in zip(rows, numbers, strict=True):
        row["number"] = number
    ids = insert_with_ids(session, Invoice, rows)
    insert_rows(
        session,
        InvoiceLine,
        [
            {"invoice_id": invoice_id, **line}
            for invoice_id, item in zip(ids, batch, strict=True)
            for line in line_values(item.draft)
        ],
    )
    issued = [
        audit.values(
            at=now,
            actor=actor,
            action="invoice.issued",
            subject_type="invoice",
            subject_id=row["number"],
            after=_issued_facts(row),
        )
        for row in rows
    ]
    if entries is None:
        audit.append(session, issued)
    else:
        entries.extend(issued)
    return list(zip(ids, numbers, strict=True))


@dataclass(frozen=True, slots=True)
class Credited:
    """What credit notes already gave back on one invoice: an invoice is never credited
    beyond its total, however many disputes, approvals or retries ask."""

    total: Decimal
    amount: Decimal
    notes: tuple[str, ...]

    @property
    def remaining(self) -> Decimal:
        return self.total - self.amount

    def describe(self, currency: str) -> str:
        if not self.notes:
            return "nothing credited yet"
        return f"{format_money(self.amount, currency)} already credited by {', '.join(self.notes)}"


def credited(session: Session, invoice: Invoice) -> Credited:
    """The credit notes issued against ``invoice`` (read under its row lock to decide)."""
    rows = session.execute(
        select(CreditNote.number, CreditNote.amount)
        .where(CreditNote.invoice_id == invoice.id)
        .order_by(CreditNote.id)
    ).all()
    return Credited(
        invoice.total, sum((amount for _, amount in rows), ZERO), tuple(n for n, _ in rows)
    )


def finalize_invoice(session: Session, invoice: Invoice, *, actor: str, now: datetime) -> None:
    """Give a draft its gapless number and open it (paid at once when nothing is due)."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise LedgerError(f"invoice {invoice.number}: only drafts can be finalized")
    invoice.number = next_number(session, INVOICE_SERIES)
    invoice.status = _finalized_status(invoice.balance)
    _audit_issue(session, invoice, actor, now, "invoice.issued")


def _finalized_status(balance: Decimal) -> InvoiceStatus:
    return InvoiceStatus.OPEN if balance > ZERO else InvoiceStatus.PAID


def _issued_facts(values: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit entry of an issued invoice records (as :func:`_audit_issue` does)."""
    return {
        key: values[key]
        for key in ("customer_id", "currency", "total", "amount_due", "due_date", "status")
    }


def _audit_issue(
    session: Session, invoice: Invoice, actor: str, now: datetime, action: str
) -> None:
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        subject_type="invoice",
        subject_id=invoice.number or invoice.id,
        after={
            "customer_id": invoice.customer_id,
            "currency": invoice.currency,
            "total": invoice.total,
            "amount_due": invoice.amount_due,
            "due_date": invoice.due_date,
            "status": invoice.status,
        },
    )


def get_invoice(session: Session, number: str) -> Invoice:
    invoice = session.scalar(
        select(Invoice).where(Invoice.number == number).options(selectinload(Invoice.lines))
    )
    if invoice is None:
        raise LedgerError(f"invoice {number!r} not found")
    return invoice


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """What `billing-ops invoices list` and `/billing invoices` can ask for."""

    customer_id: str | None = None
    status: InvoiceStatus | None = None
    currency: str | None = None
    overdue_as_of: date | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    limit: int | None = 50


def list_invoices(session: Session, where: InvoiceFilter) -> Sequence[Invoice]:
    """Invoices matching the filter, oldest due date first, at most ``where.limit``."""
    if where.limit is not None and where.limit <= 0:
        raise LedgerError(f"limit: must be positive, got {where.limit}")
    query = _matching(select(Invoice), where).order_by(Invoice.due_date, Invoice.id)
    return session.scalars(query.limit(where.limit)).all()


def count_invoices(session: Session, where: InvoiceFilter) -> int:
    """How many invoices match the filter, whatever its limit: a list says what it left out."""
    query = _matching(select(func.count()).select_from(Invoice), where)
    return session.scalar(query) or 0


def _matching(query: Select[_Row], where: InvoiceFilter) -> Select[_Row]:
    if where.customer_id:
        query = query.where(Invoice.customer_id == where.customer_id)
    if where.status:
        query = query.where(Invoice.status == where.status)
    if where.currency:
        query = query.where(Invoice.currency == where.currency)
    if where.overdue_as_of:
        query = query.where(
            Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < where.overdue_as_of
        )
    if where.issued_from:
        query = query.where(Invoice.issue_date >= where.issued_from)
    if where.issued_to:
        query = query.where(Invoice.issue_date <= where.issued_to)
    return query


def open_items(session: Session, customer_id: str | None = None) -> list[OpenItem]:
    """Every open invoice with a balance, as aging sees it."""
    query = select(
        Invoice.customer_id, Invoice.number, Invoice.currency, Invoice.due_date, Invoice.balance
    ).where(Invoice.status == InvoiceStatus.OPEN, Invoice.balance > ZERO)
    if customer_id:
        query = query.where(Invoice.customer_id == customer_id)
    return [
        OpenItem(row.customer_id, row.number or "", row.currency, row.due_date, row.balance)
        for row in session.execute(query)
    ]
