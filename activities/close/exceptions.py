"""The close's exceptions list: what an accountant must look at before signing the period off.

Blocking exceptions mean the numbers do not tie (a roll-forward difference
and the records behind it); sign-off is refused while any is listed. The
others are for review: they are normal business that someone should have
looked at (a missing PO, an invoice without tax where tax was due, cash not
applied, a draft left behind, a dispute past its SLA, a Stripe event the ledger refused or
parked).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from activities.billing.money import ZERO
from activities.billing.tax import TaxError, TaxTable, tax_treatment
from activities.cash.event_review import EventFilter, list_events, status_of
from activities.close.checklist import Thresholds
from activities.close.movements import UNBOOKED, CutOffs, invoice_ar_at, zero_if_null
from activities.close.registers import in_period, issued_in_period, unapplied_at_cut_off
from activities.close.rollforward import RollForward
from activities.close.tables import Column, Table, in_its_currency
from activities.ledger.models import (
    ClosedPeriod,
    CreditNote,
    CreditNoteKind,
    Customer,
    Dispute,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    PaymentApplication,
    TaxId,
)

Severity = Literal["blocking", "review"]


@dataclass(frozen=True, slots=True)
class CloseException:
    severity: Severity
    check: str
    currency: str | None
    record: str
    amount: Decimal | None
    detail: str


def find_exceptions(
    session: Session,
    cut_offs: CutOffs,
    roll_forwards: Sequence[RollForward],
    thresholds: Thresholds,
    tax_table: TaxTable,
) -> list[CloseException]:
    """Every exception of the period, blocking ones first."""
    found = [
        *_differences(roll_forwards),
        *_opening_not_as_signed(session, cut_offs, roll_forwards),
        *_balances_off_their_history(session, cut_offs),
        *_movements_before_issue(session, cut_offs),
        *_missing_po(session, cut_offs),
        *_untaxed(session, cut_offs, tax_table),
        *_credit_balances(session, cut_offs),
        *_unapplied_payments(session, cut_offs, thresholds.unapplied_payment_days),
        *_drafts(session, cut_offs),
        *_voided(session, cut_offs),
        *_disputes_past_sla(session, cut_offs, thresholds.dispute_sla_days),
        *_stripe_events_not_booked(session, cut_offs),
    ]
    return sorted((_rounded(e) for e in found), key=lambda e: e.severity != "blocking")


def _rounded(found: CloseException) -> CloseException:
    """Amounts at their currency's precision (SQL sums carry the ledger's four places)."""
    if found.amount is None or found.currency is None:
        return found
    return replace(found, amount=in_its_currency(found.amount, found.currency))


def _differences(roll_forwards: Iterable[RollForward]) -> list[CloseException]:
    return [
        CloseException(
            "blocking",
            "roll_forward_difference",
            rf.currency,
            f"AR {rf.currency}",
            rf.difference,
            f"closing AR from open invoices {rf.closing_from_invoices} differs from the "
            f"roll-forward's {rf.closing}; the records below explain it",
        )
        for rf in roll_forwards
        if rf.difference
    ]


def _opening_not_as_signed(
    session: Session, cut_offs: CutOffs, roll_forwards: Iterable[RollForward]
) -> list[CloseException]:
    """The opening AR must be the closing AR the controller signed for the previous month."""
    previous = session.get(ClosedPeriod, str(cut_offs.period.previous()))
    if previous is None:
        return []
    signed = {currency: Decimal(amount) for currency, amount in previous.closing_ar.items()}
    opening = {rf.currency: rf.opening for rf in roll_forwards}
    return [
        CloseException(
            "blocking",
            "opening_not_as_signed",
            currency,
            f"AR {currency}",
            opening.get(currency, ZERO) - signed.get(currency, ZERO),
            f"opening AR {opening.get(currency, ZERO)} differs from the closing AR "
            f"{signed.get(currency, ZERO)} signed off for {previous.period} by "
            f"{previous.signed_off_by}: something dated in that period changed since",
        )
        for currency in sorted(signed.keys() | opening.keys())
        if opening.get(currency, ZERO) != signed.get(currency, ZERO)
    ]


def _balances_off_their_history(session: Session, cut_offs: CutOffs) -> list[CloseException]:
    """Booked invoices whose cached open balance is not amount due less what moved on them."""
    applied, credited = invoice_ar_at(None)
    from_history = (
        Invoice.amount_due - zero_if_null(applied.c.amount) - zero_if_null(credited.c.amount)
    )
    rows = session.execute(
        select(Invoice.number, Invoice.currency, Invoice.balance, from_history)
        .outerjoin(applied, applied.c.invoice_id == Invoice.id)
        .outerjoin(credited, credited.c.invoice_id == Invoice.id)
        .where(
            Invoice.status.not_in(UNBOOKED),
            Invoice.issue_date <= cut_offs.period.last_day,
            Invoice.balance != from_history,
        )
        .order_by(Invoice.currency, Invoice.number)
    ).all()
    return [
        CloseException(
            "blocking",
            "balance_off_history",
            currency,
            number or "",
            balance - expected,
            f"open balance {in_its_currency(balance, currency)} but amount due less cash "
            f"applied and credit notes gives {in_its_currency(expected, currency)}: the balance "
            "was changed outside the ledger's operations",
        )
        for number, currency, balance, expected in rows
    ]


def _movements_before_issue(session: Session, cut_offs: CutOffs) -> list[CloseException]:
    """Cash or credit dated in a month before its invoice was issued lands in no roll-forward
    line of either month, so it makes a difference; list it with its effect on the difference
    (cash before the period on an invoice of the period lowers the independent closing; cash in
    the period on a later invoice lowers only the roll-forward)."""
    cash = _dated_before_invoice(
        session,
        cut_offs,
        (PaymentApplication.id, PaymentApplication.applied_at, PaymentApplication.amount),
        PaymentApplication.invoice_id,
    )
    credit = _dated_before_invoice(
        session,
        cut_offs,
        (CreditNote.number, CreditNote.issued_at, CreditNote.amount),
        CreditNote.invoice_id,
    )
    return [
        *(_early(cut_offs, "cash", f"payment application #{row[0]}", *row[1:]) for row in cash),
        *(_early(cut_offs, "credit note", str(row[0]), *row[1:]) for row in credit),
    ]


def _dated_before_invoice(
    session: Session, cut_offs: CutOffs, columns: tuple[Any, Any, Any], invoice_id: Any
) -> Sequence[Any]:
    """Rows (record, when, amount, invoice number, currency, issue date) dated before the
    period on an invoice of the period, or in the period on a later invoice."""
    record, when, amount = columns
    period = cut_offs.period
    return session.execute(
        select(record, when, amount, Invoice.number, Invoice.currency, Invoice.issue_date)
        .join(Invoice, Invoice.id == invoice_id)
        .where(
            Invoice.status.not_in(UNBOOKED),
            or_(
                and_(
                    when < cut_offs.starts_at,
                    Invoice.issue_date >= period.first_day,
                    Invoice.issue_date <= period.last_day,
                ),
                and_(in_period(when, cut_offs), Invoice.issue_date > period.last_day),
            ),
        )
        .order_by(Invoice.currency, record)
    ).all()


def _early(
    cut_offs: CutOffs,
    kind: str,
    record: str,
    at: datetime,
    amount: Decimal,
    number: str | None,
    currency: str,
    issued: date,
) -> CloseException:
    return CloseException(
        "blocking",
        "dated_before_invoice",
        currency,
        record,
        -amount if at < cut_offs.starts_at else amount,
        f"{kind} dated {at:%Y-%m-%d} on {number}, which was issued {issued:%Y-%m-%d}",
    )


def _missing_po(session: Session, cut_offs: CutOffs) -> list[CloseException]:
    rows = session.execute(
        select(Invoice.number, Invoice.currency, Invoice.amount_due, Customer.id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            issued_in_period(cut_offs),
            Customer.po_required.is_(True),
            or_(Invoice.po_number.is_(None), func.trim(Invoice.po_number) == ""),
        )
        .order_by(Invoice.currency, Invoice.number)
    ).all()
    return [
        CloseException(
            "review",
            "missing_po",
            currency,
            number or "",
            amount,
            f"customer {customer} requires a PO number on its invoices; this one has none",
        )
        for number, currency, amount, customer in rows
    ]


def _untaxed(session: Session, cut_offs: CutOffs, table: TaxTable) -> list[CloseException]:
    """Invoices with a taxable amount and no tax, for customers whose jurisdiction taxes us."""
    rows = session.execute(
        select(
            Invoice.number, Invoice.currency, Invoice.subtotal - Invoice.discount_total, Customer
        )
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            issued_in_period(cut_offs),
            Invoice.tax_total == ZERO,
            Invoice.subtotal - Invoice.discount_total > ZERO,
        )
        .order_by(Invoice.currency, Invoice.number)
    ).all()
    vat_ids = dict(
        session.execute(
            select(TaxId.customer_id, func.min(TaxId.value))
            .where(TaxId.scheme == "eu_vat")
            .group_by(TaxId.customer_id)
        ).all()
    )
    found = []
    for number, currency, taxable, customer in rows:
        jurisdiction = customer.region or customer.country
        try:
            treatment = tax_treatment(
                table, jurisdiction, exempt=customer.tax_exempt, vat_id=vat_ids.get(customer.id)
            )
        except TaxError as error:
            found.append(
                CloseException(
                    "review",
                    "no_tax",
                    currency,
                    number or "",
                    taxable,
                    f"cannot tell whether tax was due: {error}",
                )
            )
            continue
        if treatment.rate > ZERO:
            found.append(
                CloseException(
                    "review",
                    "no_tax",
                    currency,
                    number or "",
                    taxable,
                    f"no tax charged, but {customer.id} in {jurisdiction} owes {treatment.label}",
                )
            )
    return found


def _credit_balances(session: Session, cut_offs: CutOffs) -> list[CloseException]:
    """Customers who held more unapplied cash and account credit than they owed at the cut-off.

    Account credit counts at what is left of it today, from notes issued by the cut-off
    (using it leaves no dated record to wind back).
    """
    cut_off = cut_offs.cut_off
    credit: dict[tuple[str, str], Decimal] = {}
    unapplied = unapplied_at_cut_off(cut_off).subquery()
    for customer, currency, amount in session.execute(
        select(
            unapplied.c.customer_id,
            unapplied.c.currency,
            func.sum(unapplied.c.unapplied_at_cut_off),
        ).group_by(unapplied.c.customer_id, unapplied.c.currency)
    ):
        credit[(customer, currency)] = credit.get((customer, currency), ZERO) + amount
    for customer, currency, amount in session.execute(
        select(CreditNote.customer_id, CreditNote.currency, func.sum(CreditNote.unapplied))
        .where(
            CreditNote.invoice_id.is_(None),
            CreditNote.issued_at < cut_off,
            CreditNote.kind == CreditNoteKind.ACCOUNT_CREDIT,
            CreditNote.unapplied > ZERO,
        )
        .group_by(CreditNote.customer_id, CreditNote.currency)
    ):
        credit[(customer, currency)] = credit.get((customer, currency), ZERO) + amount
    if not credit:
        return []
    owed = _ar_by_customer(session, cut_offs, {customer for customer, _ in credit})
    found = []
    for (customer, currency), held in sorted(credit.items()):
        net = owed.get((customer, currency), ZERO) - held
        if net < ZERO:
            found.append(
                CloseException(
                    "review",
                    "credit_balance",
                    currency,
                    customer,
                    -net,
                    f"held {in_its_currency(held, currency)} in unapplied cash and account credit "
                    f"against {in_its_currency(owed.get((customer, currency), ZERO), currency)} of "
                    "open invoices at the cut-off",
                )
            )
    return found


def _ar_by_customer(
    session: Session, cut_offs: CutOffs, customers: set[str]
) -> dict[tuple[str, str], Decimal]:
    applied, credited = invoice_ar_at(cut_offs.cut_off)
    open_at = Invoice.amount_due - zero_if_null(applied.c.amount) - zero_if_null(credited.c.amount)
    rows = session.execute(
        select(Invoice.customer_id, Invoice.currency, func.sum(open_at))
        .outerjoin(applied, applied.c.invoice_id == Invoice.id)
        .outerjoin(credited, credited.c.invoice_id == Invoice.id)
        .where(
            Invoice.customer_id.in_(sorted(customers)),
            Invoice.status.not_in(UNBOOKED),
            Invoice.issue_date <= cut_offs.period.last_day,
        )
        .group_by(Invoice.customer_id, Invoice.currency)
    )
    return {(customer, currency): amount for customer, currency, amount in rows}


def _unapplied_payments(session: Session, cut_offs: CutOffs, days: int) -> list[CloseException]:
    cut_off = cut_offs.cut_off
    found = []
    for payment, held in session.execute(unapplied_at_cut_off(cut_off)):
        waited = (cut_off - payment.received_at).days
        if payment.received_at <= cut_off - timedelta(days=days):
            found.append(
                CloseException(
                    "review",
                    "unapplied_payment",
                    payment.currency,
                    payment.processor_id,
                    held,
                    f"received from {payment.customer_id} on {payment.received_at:%Y-%m-%d}, "
                    f"not applied {waited} days later (limit {days})",
                )
            )
    return found


def _drafts(session: Session, cut_offs: CutOffs) -> list[CloseException]:
    rows = session.execute(
        select(Invoice.id, Invoice.customer_id, Invoice.currency, Invoice.total, Invoice.issue_date)
        .where(
            Invoice.status == InvoiceStatus.DRAFT, Invoice.issue_date <= cut_offs.period.last_day
        )
        .order_by(Invoice.currency, Invoice.issue_date, Invoice.id)
    ).all()
    return [
        CloseException(
            "review",
            "draft_invoice",
            currency,
            f"draft #{draft_id}",
            total,
            f"draft for {customer} dated {issued:%Y-%m-%d} is still not issued",
        )
        for draft_id, customer, currency, total, issued in rows
    ]


def _voided(session: Session, cut_offs: CutOffs) -> list[CloseException]:
    period = cut_offs.period
    rows = session.execute(
        select(Invoice.number, Invoice.customer_id, Invoice.currency, Invoice.total)
        .where(
            Invoice.status == InvoiceStatus.VOID,
            Invoice.issue_date >= period.first_day,
            Invoice.issue_date <= period.last_day,
        )
        .order_by(Invoice.currency, Invoice.number)
    ).all()
    return [
        CloseException(
            "review",
            "voided_invoice",
            currency,
            number or "",
            total,
            f"issued to {customer} in the period and voided: not in the register or AR",
        )
        for number, customer, currency, total in rows
    ]


def _disputes_past_sla(session: Session, cut_offs: CutOffs, days: int) -> list[CloseException]:
    cut_off = cut_offs.cut_off
    rows = session.execute(
        select(Dispute.id, Dispute.customer_id, Dispute.opened_at, Dispute.category)
        .where(
            Dispute.opened_at <= cut_off - timedelta(days=days),
            or_(Dispute.status == DisputeStatus.OPEN, Dispute.closed_at >= cut_off),
        )
        .order_by(Dispute.opened_at, Dispute.id)
    ).all()
    return [
        CloseException(
            "review",
            "dispute_past_sla",
            None,
            dispute_id,
            None,
            f"{category or 'dispute'} from {customer} open since {opened:%Y-%m-%d}, "
            f"{(cut_off - opened).days} days at the cut-off (SLA {days})",
        )
        for dispute_id, customer, opened, category in rows
    ]


def _stripe_events_not_booked(session: Session, cut_offs: CutOffs) -> list[CloseException]:
    """Stripe events created before the cut-off that are still refused or parked: money Stripe
    moved that the ledger does not hold (``billing-ops stripe events`` lists them)."""
    return [
        CloseException(
            "review",
            f"stripe_event_{status_of(event)}",
            None,
            event.id,
            None,
            f"{event.type} {event.object_id} for {event.customer_id or 'no customer yet'}, "
            f"created {event.created_at:%Y-%m-%d}: {event.outcome}",
        )
        for event in reversed(list_events(session, EventFilter(before=cut_offs.cut_off)))
    ]


def exceptions_table(found: Sequence[CloseException]) -> Table:
    blocking = sum(1 for e in found if e.severity == "blocking")
    note = (
        f"{len(found)} exception(s), {blocking} blocking sign-off."
        if found
        else "No exceptions: the roll-forward ties and nothing needs review."
    )
    return Table(
        name="exceptions",
        title="Exceptions",
        columns=(
            Column("Severity"),
            Column("Check"),
            Column("Currency"),
            Column("Record"),
            Column("Amount", "number"),
            Column("Detail"),
        ),
        rows=[(e.severity, e.check, e.currency, e.record, e.amount, e.detail) for e in found],
        note=note,
    )
