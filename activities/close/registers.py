"""The period's registers, read from the ledger: invoices and their lines, cash receipts and
applications, credit notes and write-offs, refunds, unapplied cash, and usage not yet billed.

Each is a :class:`~activities.close.tables.Table`, sorted by currency so that
totals are per currency. Amounts "at cut-off" are the ledger as of the
period's cut-off, whatever happened since.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from activities.billing.money import ZERO
from activities.close.movements import UNBOOKED, CutOffs, invoice_ar_at, zero_if_null
from activities.close.tables import Column, ColumnKind, Table, in_currency
from activities.ledger.models import (
    CreditNote,
    Customer,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentApplication,
    Refund,
)

MONEY: ColumnKind = "money"


def _table(
    *,
    name: str,
    title: str,
    columns: tuple[Column, ...],
    rows: Iterable[Sequence[Any]],
    currency_column: int,
    note: str,
) -> Table:
    return Table(
        name, title, columns, in_currency(columns, rows, currency_column), currency_column, note
    )


def in_period(column: Any, cut_offs: CutOffs) -> Any:
    return and_(column >= cut_offs.starts_at, column < cut_offs.cut_off)


def issued_in_period(cut_offs: CutOffs) -> Any:
    period = cut_offs.period
    return and_(
        Invoice.issue_date >= period.first_day,
        Invoice.issue_date <= period.last_day,
        Invoice.status.not_in(UNBOOKED),
    )


def invoice_register(session: Session, cut_offs: CutOffs) -> Table:
    applied, credited = invoice_ar_at(cut_offs.cut_off)
    open_at_cut_off = (
        Invoice.amount_due - zero_if_null(applied.c.amount) - zero_if_null(credited.c.amount)
    )
    query = (
        select(
            Invoice.number,
            Invoice.customer_id,
            Customer.legal_name,
            Invoice.issue_date,
            Invoice.due_date,
            Invoice.status,
            Invoice.po_number,
            Invoice.currency,
            Invoice.subtotal,
            Invoice.discount_total,
            Invoice.tax_total,
            Invoice.total,
            Invoice.credit_applied,
            Invoice.amount_due,
            open_at_cut_off,
        )
        .join(Customer, Customer.id == Invoice.customer_id)
        .outerjoin(applied, applied.c.invoice_id == Invoice.id)
        .outerjoin(credited, credited.c.invoice_id == Invoice.id)
        .where(issued_in_period(cut_offs))
        .order_by(Invoice.currency, Invoice.number)
    )
    rows = [(*row[:5], row[5].value, *row[6:]) for row in session.execute(query)]
    return _table(
        name="invoice-register",
        title="Invoice register",
        columns=(
            Column("Invoice"),
            Column("Customer"),
            Column("Customer name"),
            Column("Issued", "date"),
            Column("Due", "date"),
            Column("Status today"),
            Column("PO number"),
            Column("Currency"),
            Column("Subtotal", MONEY),
            Column("Discount", MONEY),
            Column("Tax", MONEY),
            Column("Total", MONEY),
            Column("Account credit applied", MONEY),
            Column("Amount due", MONEY),
            Column("Open at cut-off", MONEY),
        ),
        rows=rows,
        currency_column=7,
        note=f"Every invoice issued in {cut_offs.period} (drafts and voided invoices excluded; "
        "see Exceptions).",
    )


def invoice_lines(session: Session, cut_offs: CutOffs) -> Table:
    query = (
        select(
            Invoice.number,
            InvoiceLine.position,
            InvoiceLine.kind,
            InvoiceLine.item_code,
            InvoiceLine.description,
            InvoiceLine.period_start,
            InvoiceLine.period_end,
            InvoiceLine.quantity,
            InvoiceLine.unit_amount,
            Invoice.currency,
            InvoiceLine.amount,
            InvoiceLine.discount_amount,
            InvoiceLine.tax_rate,
            InvoiceLine.tax_amount,
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(issued_in_period(cut_offs))
        .order_by(Invoice.currency, Invoice.number, InvoiceLine.position)
    )
    rows = [(*row[:2], row[2].value, *row[3:]) for row in session.execute(query)]
    return _table(
        name="invoice-lines",
        title="Invoice lines",
        columns=(
            Column("Invoice"),
            Column("Line", "number"),
            Column("Kind"),
            Column("Item"),
            Column("Description"),
            Column("Service from", "datetime"),
            Column("Service to", "datetime"),
            Column("Quantity", "number"),
            Column("Unit amount", "number"),
            Column("Currency"),
            Column("Amount", MONEY),
            Column("Discount", MONEY),
            Column("Tax rate", "number"),
            Column("Tax", MONEY),
        ),
        rows=rows,
        currency_column=9,
        note="The lines of every invoice in the register, with their tax.",
    )


def _by_payment(column: Any, payment_column: Any, when: Any, cut_off: datetime) -> Any:
    return (
        select(payment_column.label("payment_id"), func.sum(column).label("amount"))
        .where(when < cut_off)
        .group_by(payment_column)
        .subquery()
    )


def cash_receipts(session: Session, cut_offs: CutOffs) -> Table:
    cut_off = cut_offs.cut_off
    applied = _by_payment(
        PaymentApplication.amount,
        PaymentApplication.payment_id,
        PaymentApplication.applied_at,
        cut_off,
    )
    refunded = _by_payment(Refund.amount, Refund.payment_id, Refund.refunded_at, cut_off)
    query = (
        select(
            Payment.processor_id,
            Payment.customer_id,
            Payment.received_at,
            Payment.method,
            Payment.currency,
            Payment.amount,
            zero_if_null(applied.c.amount),
            zero_if_null(refunded.c.amount),
        )
        .outerjoin(applied, applied.c.payment_id == Payment.id)
        .outerjoin(refunded, refunded.c.payment_id == Payment.id)
        .where(in_period(Payment.received_at, cut_offs))
        .order_by(Payment.currency, Payment.received_at, Payment.id)
    )
    return _table(
        name="cash-receipts",
        title="Cash receipts",
        columns=(
            Column("Payment"),
            Column("Customer"),
            Column("Received", "datetime"),
            Column("Method"),
            Column("Currency"),
            Column("Amount", MONEY),
            Column("Applied to invoices by cut-off", MONEY),
            Column("Refunded by cut-off", MONEY),
        ),
        rows=[tuple(row) for row in session.execute(query)],
        currency_column=4,
        note=f"Every payment received in {cut_offs.period}.",
    )


def cash_applications(session: Session, cut_offs: CutOffs) -> Table:
    query = (
        select(
            PaymentApplication.applied_at,
            Payment.processor_id,
            Invoice.customer_id,
            Invoice.number,
            Invoice.currency,
            PaymentApplication.amount,
        )
        .join(Payment, Payment.id == PaymentApplication.payment_id)
        .join(Invoice, Invoice.id == PaymentApplication.invoice_id)
        .where(in_period(PaymentApplication.applied_at, cut_offs))
        .order_by(Invoice.currency, PaymentApplication.applied_at, PaymentApplication.id)
    )
    return _table(
        name="cash-applications",
        title="Cash applications",
        columns=(
            Column("Applied", "datetime"),
            Column("Payment"),
            Column("Customer"),
            Column("Invoice"),
            Column("Currency"),
            Column("Amount", MONEY),
        ),
        rows=[tuple(row) for row in session.execute(query)],
        currency_column=4,
        note="Cash put on invoices in the period; a negative amount is a refund taking it back.",
    )


def credit_notes(session: Session, cut_offs: CutOffs) -> Table:
    query = (
        select(
            CreditNote.number,
            CreditNote.kind,
            CreditNote.customer_id,
            Invoice.number,
            CreditNote.issued_at,
            CreditNote.currency,
            CreditNote.amount,
            CreditNote.reason,
        )
        .outerjoin(Invoice, Invoice.id == CreditNote.invoice_id)
        .where(in_period(CreditNote.issued_at, cut_offs))
        .order_by(CreditNote.currency, CreditNote.issued_at, CreditNote.id)
    )
    rows = [(row[0], row[1].value, *row[2:]) for row in session.execute(query)]
    return _table(
        name="credit-notes",
        title="Credit notes & write-offs",
        columns=(
            Column("Credit note"),
            Column("Kind"),
            Column("Customer"),
            Column("Invoice"),
            Column("Issued", "datetime"),
            Column("Currency"),
            Column("Amount", MONEY),
            Column("Reason"),
        ),
        rows=rows,
        currency_column=5,
        note="Credit notes issued in the period; kind write_off is a write-off, account_credit "
        "is credit kept for the customer (not on an invoice).",
    )


def refunds(session: Session, cut_offs: CutOffs) -> Table:
    query = (
        select(
            Refund.processor_id,
            Payment.processor_id,
            Payment.customer_id,
            Refund.refunded_at,
            Refund.currency,
            Refund.amount,
            Refund.reason,
        )
        .join(Payment, Payment.id == Refund.payment_id)
        .where(in_period(Refund.refunded_at, cut_offs))
        .order_by(Refund.currency, Refund.refunded_at, Refund.id)
    )
    return _table(
        name="refunds",
        title="Refunds",
        columns=(
            Column("Refund"),
            Column("Payment"),
            Column("Customer"),
            Column("Refunded", "datetime"),
            Column("Currency"),
            Column("Amount", MONEY),
            Column("Reason"),
        ),
        rows=[tuple(row) for row in session.execute(query)],
        currency_column=4,
        note="Cash paid back to customers in the period.",
    )


def unapplied_at_cut_off(cut_off: datetime) -> Select[Payment, Decimal]:
    """Payments received by the cut-off with the cash they still held unapplied then.

    Wound back from today's unapplied cash: what was applied (net of
    reversals) or refunded since the cut-off was still unapplied at it.
    """
    applied_since = (
        select(
            PaymentApplication.payment_id.label("payment_id"),
            func.sum(PaymentApplication.amount).label("amount"),
        )
        .where(PaymentApplication.applied_at >= cut_off)
        .group_by(PaymentApplication.payment_id)
        .subquery()
    )
    refunded_since = (
        select(Refund.payment_id.label("payment_id"), func.sum(Refund.amount).label("amount"))
        .where(Refund.refunded_at >= cut_off)
        .group_by(Refund.payment_id)
        .subquery()
    )
    unapplied = (
        Payment.unapplied
        + zero_if_null(applied_since.c.amount)
        + zero_if_null(refunded_since.c.amount)
    ).label("unapplied_at_cut_off")
    return (
        select(Payment, unapplied)
        .outerjoin(applied_since, applied_since.c.payment_id == Payment.id)
        .outerjoin(refunded_since, refunded_since.c.payment_id == Payment.id)
        .where(Payment.received_at < cut_off, unapplied > ZERO)
        .order_by(Payment.currency, Payment.received_at, Payment.id)
    )


def unapplied_cash(session: Session, cut_offs: CutOffs) -> Table:
    cut_off = cut_offs.cut_off
    rows = [
        (
            payment.processor_id,
            payment.customer_id,
            payment.received_at,
            (cut_off - payment.received_at).days,
            payment.currency,
            payment.amount,
            held,
            payment.unapplied,
        )
        for payment, held in session.execute(unapplied_at_cut_off(cut_off))
    ]
    return _table(
        name="unapplied-cash",
        title="Unapplied cash",
        columns=(
            Column("Payment"),
            Column("Customer"),
            Column("Received", "datetime"),
            Column("Days unapplied at cut-off", "number"),
            Column("Currency"),
            Column("Payment amount", MONEY),
            Column("Unapplied at cut-off", MONEY),
            Column("Unapplied today", MONEY),
        ),
        rows=rows,
        currency_column=4,
        note="Cash received by the cut-off and not on any invoice at it.",
    )


def usage_not_yet_billed() -> Table:
    """Nothing to report until the ledger keeps usage counts; the sheet says so."""
    return Table(
        name="usage-not-billed",
        title="Usage not yet billed",
        columns=(Column("Subscription"), Column("Item"), Column("Units")),
        rows=[],
        note="Nothing to report yet: the ledger keeps no usage counts between bill runs "
        "(usage add-ons are priced from the counts a bill run is given), so unbilled usage "
        "cannot be measured from it. This sheet fills in once usage is recorded in the ledger.",
    )
