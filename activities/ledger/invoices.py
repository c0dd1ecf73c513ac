"""Invoices in the ledger: issuing a computed draft under a gapless number, and finding them.

Computing an invoice is the pure engine's job (activities.billing.invoicing);
this module only stores the result, exactly as computed, and audits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from babel import Locale, UnknownLocaleError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from activities.billing.aging import OpenItem
from activities.billing.invoicing import InvoiceDraft
from activities.billing.money import ZERO
from activities.billing.seller import Seller, SellerError, load_seller
from activities.ledger import audit
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError
from activities.ledger.models import Customer, Invoice, InvoiceLine, InvoiceStatus, LineKind
from activities.ledger.numbering import next_number

INVOICE_SERIES = "INV"

_Row = TypeVar("_Row")

#: The buyer's tax id an invoice prints, in this order of preference.
TAX_ID_SCHEMES = ("eu_vat", "gb_vat", "ch_vat", "no_vat", "au_abn", "ca_bn", "us_ein", "jp_cn")


def document_locale(country: str) -> str:
    """The locale a customer's documents format dates and amounts in: the most likely one
    for the country (``DE`` → ``de_DE``, ``JP`` → ``ja_JP``), English where babel knows none."""
    try:
        return str(Locale.parse(f"und_{country}"))
    except (UnknownLocaleError, ValueError):
        return "en_GB"


def billing_address(customer: Customer) -> dict[str, Any]:
    """The customer's name and address as an invoice keeps them (JSON)."""
    return {
        "line1": customer.address_line1,
        "line2": customer.address_line2,
        "city": customer.city,
        "region": customer.region,
        "postal_code": customer.postal_code,
        "country": customer.country,
    }


def buyer_tax_id(customer: Customer) -> tuple[str, str] | None:
    """The tax id printed for the buyer: (scheme, value), VAT ids first."""
    held = {tax_id.scheme: tax_id.value for tax_id in customer.tax_ids}
    for scheme in (*TAX_ID_SCHEMES, *sorted(held)):
        if scheme in held:
            return scheme, held[scheme]
    return None


def _says(invoice: Invoice, customer: Customer, draft: InvoiceDraft, seller: Seller) -> None:
    """Copy onto the invoice what it says as at issue: seller, buyer, address, tax wording,
    terms and how to pay. Documents print these, never today's customer or config."""
    tax_id = buyer_tax_id(customer)
    invoice.seller = seller.snapshot()
    invoice.buyer_name = customer.legal_name
    invoice.buyer_tax_scheme, invoice.buyer_tax_id = tax_id or (None, None)
    invoice.billing_address = billing_address(customer)
    invoice.locale = document_locale(customer.country)
    invoice.tax_category = draft.tax.category
    invoice.tax_label = draft.tax.label
    invoice.tax_exemption_reason = draft.tax.exemption_reason
    invoice.tax_exemption_code = draft.tax.exemption_code
    invoice.notes = {"notes": list(draft.notes)}
    days = (draft.due_date - draft.issue_date).days
    invoice.payment_terms = seller.terms_text(days)
    invoice.payment_instructions = seller.instructions_for(draft.currency).model_dump(
        mode="json", exclude_none=True
    )


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
    with session.no_autoflush:
        existing = session.scalar(select(Invoice).where(Invoice.source_key == source_key))
        if existing is not None:
            return existing
        customer = get_customer(session, customer_id)
    if draft.currency != customer.currency:
        raise LedgerError(
            f"currency: the invoice is in {draft.currency}, customer {customer_id} "
            f"is billed in {customer.currency}"
        )
    if draft.amount_due < ZERO:
        raise LedgerError(
            f"amount_due: {draft.amount_due} is negative; issue a credit note for a net credit"
        )
    invoice = Invoice(
        number=next_number(session, INVOICE_SERIES) if finalize else None,
        source_key=source_key,
        customer_id=customer_id,
        subscription_id=subscription_id,
        currency=draft.currency,
        status=_finalized_status(draft.amount_due) if finalize else InvoiceStatus.DRAFT,
        issue_date=draft.issue_date,
        due_date=draft.due_date,
        period_start=draft.period_start,
        period_end=draft.period_end,
        po_number=draft.po_number,
        subtotal=draft.subtotal,
        discount_total=draft.discount_total,
        tax_total=draft.tax_total,
        total=draft.total,
        credit_applied=draft.credit_applied,
        amount_due=draft.amount_due,
        balance=draft.amount_due,
        created_at=now,
        lines=[
            InvoiceLine(
                position=position,
                kind=LineKind(line.kind),
                description=line.description,
                item_code=line.item_code,
                period_start=line.period_start,
                period_end=line.period_end,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                proration_fraction=line.proration_fraction,
                amount=line.amount,
                discount_amount=line.discount_amount,
                tax_rate=line.tax_rate,
                tax_amount=line.tax_amount,
                tax_category=line.tax_category,
            )
            for position, line in enumerate(draft.lines, start=1)
        ],
    )
    try:
        _says(invoice, customer, draft, seller or load_seller())
    except SellerError as error:
        raise LedgerError(str(error)) from None
    session.add(invoice)
    if not finalize:
        session.flush()  # a draft is known by its id until it has a number
    _audit_issue(session, invoice, actor, now, "invoice.issued" if finalize else "invoice.drafted")
    return invoice


def finalize_invoice(session: Session, invoice: Invoice, *, actor: str, now: datetime) -> None:
    """Give a draft its gapless number and open it (paid at once when nothing is due)."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise LedgerError(f"invoice {invoice.number}: only drafts can be finalized")
    invoice.number = next_number(session, INVOICE_SERIES)
    invoice.status = _finalized_status(invoice.balance)
    _audit_issue(session, invoice, actor, now, "invoice.issued")


def _finalized_status(balance: Decimal) -> InvoiceStatus:
    return InvoiceStatus.OPEN if balance > ZERO else InvoiceStatus.PAID


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
