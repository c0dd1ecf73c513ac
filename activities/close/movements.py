"""What moved AR, summed in SQL by currency, due date and month-end.

Everything the roll-forward and the twelve-month aging need comes from
three aggregate queries (invoices, payment applications, credit notes on
invoices), so a close of a million invoices reads each table once and
returns a few thousand rows. Each sum carries two month-end indexes: when
the invoice was issued and when the movement happened (see
:class:`CutOffs`); the callers add up whichever combinations they need.

What counts: an invoice is booked from its issue date unless it is a draft
or void; its AR is the amount due (the total less account credit applied at
issue). Cash applied lowers AR when it is applied; a refund's reversing
application raises it again at the refund; a credit note on an invoice
lowers it by the note's amount when issued (a write-off is a credit note of
kind ``write_off``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, Subquery, case, func, literal, select
from sqlalchemy.orm import Session

from activities.ledger.models import (
    CreditNote,
    CreditNoteKind,
    Invoice,
    InvoiceStatus,
    PaymentApplication,
)
from activities.ledger.periods import Period

#: Statuses that were never booked to AR.
UNBOOKED = (InvoiceStatus.DRAFT, InvoiceStatus.VOID)

MONTHS_OF_HISTORY = 12


class Kind(StrEnum):
    """One line of the roll-forward; the amount is its signed effect on AR."""

    INVOICED = "invoiced"
    ACCOUNT_CREDIT = "account_credit"
    CASH = "cash"
    REVERSAL = "reversal"
    CREDIT_NOTE = "credit_note"
    WRITE_OFF = "write_off"
    #: Not a movement: the invoices' cached open balance today, for the independent check.
    BALANCE = "balance"


@dataclass(frozen=True, slots=True)
class CutOffs:
    """The month-ends a close looks at, oldest first; the last is the period being closed.

    A movement's index is the first month-end it happened before (1 for the
    oldest, ``len`` for the period closed) or ``after`` when it happened
    after the period's cut-off. An invoice's index is the first month whose
    last day is on or after its issue date.
    """

    periods: tuple[Period, ...]
    timezone: str

    @classmethod
    def ending(cls, period: Period, timezone: str, months: int = MONTHS_OF_HISTORY) -> CutOffs:
        periods = [period]
        while len(periods) < months:
            periods.insert(0, periods[0].previous())
        return cls(tuple(periods), timezone)

    @property
    def period(self) -> Period:
        return self.periods[-1]

    @property
    def closing(self) -> int:
        return len(self.periods)

    @property
    def opening(self) -> int:
        return len(self.periods) - 1

    @property
    def after(self) -> int:
        return len(self.periods) + 1

    @property
    def instants(self) -> tuple[datetime, ...]:
        return tuple(p.cut_off(self.timezone) for p in self.periods)

    @property
    def starts_at(self) -> datetime:
        return self.period.starts_at(self.timezone)

    @property
    def cut_off(self) -> datetime:
        return self.instants[-1]

    def of_instant(self, column: SQLColumnExpression[datetime]) -> ColumnElement[int]:
        whens = [(column < instant, index) for index, instant in enumerate(self.instants, 1)]
        return case(*whens, else_=self.after)

    def of_day(self, column: SQLColumnExpression[date]) -> ColumnElement[int]:
        whens = [(column <= p.last_day, index) for index, p in enumerate(self.periods, 1)]
        return case(*whens, else_=self.after)


@dataclass(frozen=True, slots=True)
class Movement:
    """A sum of one kind of AR movement for invoices of one currency and due date."""

    currency: str
    due_date: date
    issued: int
    at: int
    kind: Kind
    amount: Decimal


def ar_movements(session: Session, cut_offs: CutOffs) -> list[Movement]:
    """Every AR movement in the ledger, summed by currency, due date and month-end."""
    return [
        *_invoices(session, cut_offs),
        *_applications(session, cut_offs),
        *_credit_notes(session, cut_offs),
    ]


def _booked() -> ColumnElement[bool]:
    return Invoice.status.not_in(UNBOOKED)


def _invoices(session: Session, cut_offs: CutOffs) -> list[Movement]:
    issued = cut_offs.of_day(Invoice.issue_date).label("issued")
    rows = session.execute(
        select(
            Invoice.currency,
            Invoice.due_date,
            issued,
            func.sum(Invoice.total).label("total"),
            func.sum(Invoice.credit_applied).label("credit_applied"),
            func.sum(Invoice.balance).label("balance"),
        )
        .where(_booked())
        .group_by(Invoice.currency, Invoice.due_date, issued)
    ).all()
    movements: list[Movement] = []
    for row in rows:
        for kind, amount in (
            (Kind.INVOICED, row.total),
            (Kind.ACCOUNT_CREDIT, -row.credit_applied),
            (Kind.BALANCE, row.balance),
        ):
            movements.append(
                Movement(row.currency, row.due_date, row.issued, row.issued, kind, amount)
            )
    return movements


def _applications(session: Session, cut_offs: CutOffs) -> list[Movement]:
    issued = cut_offs.of_day(Invoice.issue_date).label("issued")
    at = cut_offs.of_instant(PaymentApplication.applied_at).label("at")
    reversal = (PaymentApplication.amount < 0).label("reversal")
    rows = session.execute(
        select(
            Invoice.currency,
            Invoice.due_date,
            issued,
            at,
            reversal,
            func.sum(PaymentApplication.amount).label("amount"),
        )
        .join(Invoice, Invoice.id == PaymentApplication.invoice_id)
        .where(_booked())
        .group_by(Invoice.currency, Invoice.due_date, issued, at, reversal)
    ).all()
    return [
        Movement(
            row.currency,
            row.due_date,
            row.issued,
            row.at,
            Kind.REVERSAL if row.reversal else Kind.CASH,
            -row.amount,
        )
        for row in rows
    ]


def _credit_notes(session: Session, cut_offs: CutOffs) -> list[Movement]:
    issued = cut_offs.of_day(Invoice.issue_date).label("issued")
    at = cut_offs.of_instant(CreditNote.issued_at).label("at")
    write_off = (CreditNote.kind == CreditNoteKind.WRITE_OFF).label("write_off")
    rows = session.execute(
        select(
            Invoice.currency,
            Invoice.due_date,
            issued,
            at,
            write_off,
            func.sum(CreditNote.amount).label("amount"),
        )
        .join(Invoice, Invoice.id == CreditNote.invoice_id)
        .where(_booked())
        .group_by(Invoice.currency, Invoice.due_date, issued, at, write_off)
    ).all()
    return [
        Movement(
            row.currency,
            row.due_date,
            row.issued,
            row.at,
            Kind.WRITE_OFF if row.write_off else Kind.CREDIT_NOTE,
            -row.amount,
        )
        for row in rows
    ]


def invoice_ar_at(cut_off: datetime | None) -> tuple[Subquery, Subquery]:
    """Per-invoice sums of cash applied and credit noted before ``cut_off`` (ever, for None).

    An invoice's AR at the cut-off is its amount due less both.
    """
    applied = select(
        PaymentApplication.invoice_id.label("invoice_id"),
        func.sum(PaymentApplication.amount).label("amount"),
    ).group_by(PaymentApplication.invoice_id)
    credited = (
        select(
            CreditNote.invoice_id.label("invoice_id"), func.sum(CreditNote.amount).label("amount")
        )
        .where(CreditNote.invoice_id.is_not(None))
        .group_by(CreditNote.invoice_id)
    )
    if cut_off is not None:
        applied = applied.where(PaymentApplication.applied_at < cut_off)
        credited = credited.where(CreditNote.issued_at < cut_off)
    return applied.subquery("applied"), credited.subquery("credited")


def zero_if_null(column: Any) -> ColumnElement[Decimal]:
    """``COALESCE(column, 0)`` typed as money, so SQLite's scaled integers convert back."""
    return func.coalesce(column, literal(Decimal(0), type_=column.type))
