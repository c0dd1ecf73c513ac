"""Accounting periods and their locks.

A period is a calendar month in the company's timezone; its cut-off is
midnight at the start of the next month there. Once the controller signs a
period off (:func:`lock_period`), records dated inside it (invoices by issue
date, payments by receipt, payment applications, credit notes, refunds) can
no longer be added, changed or removed: a correction is booked in the open
period, so the figures that were signed stay true.

Signing a month off also closes every earlier month that was never signed
(a payment dated in an unsigned October must not change the November that
was signed on top of it), unless the controller reopens that month with a
reason (:func:`reopen_period`, audited). A signed-off month stays closed.

The database enforces the lock (triggers of migration 0004 on invoices,
invoice lines, payments, payment applications, credit notes and refunds), so
it binds every write path: ORM flushes, Core statements, bulk saves, COPY, raw
SQL. On PostgreSQL an insert is checked once per statement over its transition
table (migration 0021: a bill run's batch is a few statements of hundreds of
rows); updates and deletes row by row.
A ``before_flush`` guard repeats the check for ORM writes to name the record
in the refusal. Figures that later, dated events move (an invoice's open
balance and paid/open status, a payment's unapplied cash, a credit note's
unused credit) stay free, because the event that moves them is itself dated
and checked.

A write checked before a sign-off must not commit after it. On PostgreSQL the
trigger's check (before each row, or at the end of an inserting statement) holds a
ROW SHARE lock on ``closed_periods`` until the writer's transaction ends, and the
sign-off takes EXCLUSIVE (:func:`hold_writes`) before it recomputes the closing
figures: it waits for writers in flight, and writers arriving meanwhile wait for it and
then see the new closed period. On SQLite every transaction holds the database's write
lock from its start.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.orm import Session, UOWTransaction

from activities.ledger import audit
from activities.ledger.errors import LedgerError
from activities.ledger.models import (
    Base,
    ClosedPeriod,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentApplication,
    Refund,
    ReopenedPeriod,
)

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodClosed(LedgerError):
    """The record is dated inside a signed-off period; book it in the open period."""


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """One accounting month, written ``2026-11``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 2000 <= self.year <= 2999:
            raise ValueError(f"period: {self.year:04d}-{self.month:02d} is not a month (YYYY-MM)")

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip())
        if match is None:
            raise ValueError(f"period: {text!r} is not a month written YYYY-MM, e.g. 2026-11")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def starts_at(self, timezone: str) -> datetime:
        """Midnight at the start of the month in ``timezone``, as a UTC instant."""
        local = datetime.combine(self.first_day, time(0), tzinfo=_zone(timezone))
        return local.astimezone(UTC)

    def cut_off(self, timezone: str) -> datetime:
        """The first instant after the period: midnight starting the next month in ``timezone``."""
        return self.next().starts_at(timezone)


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: {timezone!r} is not an IANA timezone") from None


def closed_period(session: Session, period: Period) -> ClosedPeriod | None:
    return session.get(ClosedPeriod, str(period))


def closed_message(closed: ClosedPeriod) -> str:
    return (
        f"period {closed.period} is closed (signed off by {closed.signed_off_by} on "
        f"{closed.signed_off_at:%Y-%m-%d}); book this in the open period"
    )


def hold_writes(session: Session) -> None:
    """Make writers to dated records wait until this transaction ends (PostgreSQL).

    Taken by a sign-off before it computes what it signs, and by a reopening.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE closed_periods IN EXCLUSIVE MODE"))


def reopen_period(
    session: Session,
    period: Period,
    *,
    timezone: str,
    reopened_by: str,
    reason: str,
    at: datetime,
) -> ReopenedPeriod:
    """Open again a month that was closed only because a later month was signed off.

    The caller checks that ``reopened_by`` may (the approval matrix's controller).
    A signed-off month stays closed; reopening a month twice returns the first reopening.
    """
    hold_writes(session)
    signed = closed_period(session, period)
    if signed is not None:
        raise PeriodClosed(f"{closed_message(signed)}; a signed-off period cannot be reopened")
    horizon = session.scalar(select(func.max(ClosedPeriod.period)))
    if horizon is None or str(period) > horizon:
        raise LedgerError(f"period: {period} is not closed (last signed-off month: {horizon})")
    existing = session.get(ReopenedPeriod, str(period))
    if existing is not None:
        return existing
    if not reason.strip():
        raise LedgerError("reason: reopening a period needs a reason for the audit log")
    reopened = ReopenedPeriod(
        period=str(period),
        timezone=timezone,
        starts_at=period.starts_at(timezone),
        ends_at=period.cut_off(timezone),
        reopened_by=reopened_by,
        reopened_at=at,
        reason=reason,
    )
    session.add(reopened)
    audit.record(
        session,
        at=at,
        actor=reopened_by,
        action="period.reopened",
        subject_type="period",
        subject_id=str(period),
        after={"period": str(period), "last_signed_off": horizon, "timezone": timezone},
        reason=reason,
    )
    session.flush()
    return reopened


def refuse_if_closed(session: Session, period: Period) -> None:
    """Raise :class:`PeriodClosed` when ``period`` has been signed off."""
    closed = closed_period(session, period)
    if closed is not None:
        raise PeriodClosed(closed_message(closed))


def lock_period(
    session: Session,
    period: Period,
    *,
    timezone: str,
    closing_ar: dict[str, Decimal],
    signed_off_by: str,
    signed_off_at: datetime,
    workflow_id: str,
) -> ClosedPeriod:
    """Lock ``period`` as signed off; locking it again from the same close changes nothing.

    A second sign-off from a different close is refused: the first one stands.
    """
    hold_writes(session)
    existing = closed_period(session, period)
    if existing is not None:
        if existing.workflow_id != workflow_id:
            raise PeriodClosed(closed_message(existing))
        return existing
    if not signed_off_by.strip():
        raise LedgerError("signed_off_by: a sign-off needs the controller's name")
    closed = ClosedPeriod(
        period=str(period),
        timezone=timezone,
        starts_at=period.starts_at(timezone),
        ends_at=period.cut_off(timezone),
        closing_ar={currency: str(amount) for currency, amount in sorted(closing_ar.items())},
        signed_off_by=signed_off_by,
        signed_off_at=signed_off_at,
        workflow_id=workflow_id,
    )
    session.add(closed)
    session.flush()
    return closed


# --- the guard --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Dated:
    """How one kind of record is dated, and which of its columns later events may move."""

    noun: str
    date_column: str
    may_change: frozenset[str]


_DATED: dict[type[Base], _Dated] = {
    Invoice: _Dated("invoice", "issue_date", frozenset({"balance", "status"})),
    Payment: _Dated("payment", "received_at", frozenset({"unapplied", "refunded"})),
    PaymentApplication: _Dated("payment application", "applied_at", frozenset()),
    CreditNote: _Dated("credit note", "issued_at", frozenset({"unapplied"})),
    Refund: _Dated("refund", "refunded_at", frozenset()),
}

#: An invoice moving between these statuses follows dated payments and write-offs;
#: leaving or entering draft or void changes what was booked.
_SETTLEMENT_STATUSES = frozenset(
    {InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE}
)


@event.listens_for(Session, "before_flush")
def _refuse_changes_in_closed_periods(
    session: Session, _context: UOWTransaction, _instances: object
) -> None:
    touched = [
        (record, kind)
        for kind, records in (
            ("new", session.new),
            ("changed", session.dirty),
            ("removed", session.deleted),
        )
        for record in records
        if isinstance(record, (*_DATED, InvoiceLine))
    ]
    if not touched:
        return
    with session.no_autoflush:
        closed = session.scalars(select(ClosedPeriod)).all()
        if not closed:
            return
        reopened = session.scalars(select(ReopenedPeriod)).all()
        for record, kind in touched:
            for when in _dates_to_check(session, record, kind):
                why = _why_closed(closed, reopened, when)
                if why is not None:
                    raise PeriodClosed(f"{_label(record)} dated {_day(when)}: {why}")


def _dates_to_check(session: Session, record: Any, kind: str) -> list[date | datetime]:
    """Where ``record`` is booked before and after this change, when the change counts."""
    if isinstance(record, InvoiceLine):
        invoice = record.invoice or session.get(Invoice, record.invoice_id)
        if invoice is None or invoice.status == InvoiceStatus.DRAFT:
            return []
        return [invoice.issue_date]
    dated = _DATED[type(record)]
    before = (_old(record, dated.date_column), _booked(record, _old(record, "status")))
    after = (getattr(record, dated.date_column), _booked(record, getattr(record, "status", None)))
    if kind == "new":
        states = [after]
    elif kind == "removed":
        states = [before]
    elif _changes_what_was_booked(record, dated):
        states = [before, after]
    else:
        states = []
    return [when for when, booked in states if booked and _comparable(when)]


def _old(record: Any, column: str) -> Any:
    """The value the database holds (before this flush); None for a column the record lacks."""
    if column not in inspect(type(record)).column_attrs:
        return None
    history = inspect(record).attrs[column].history
    return history.deleted[0] if history.deleted else getattr(record, column)


def _booked(record: Any, status: InvoiceStatus | None) -> bool:
    """Every dated record is booked, except an invoice while it is a draft."""
    return not (isinstance(record, Invoice) and status == InvoiceStatus.DRAFT)


def _changes_what_was_booked(record: Any, dated: _Dated) -> bool:
    state = inspect(record)
    changed = {
        attr.key
        for attr in state.mapper.column_attrs
        if state.attrs[attr.key].history.has_changes()
    }
    if changed - dated.may_change:
        return True
    if "status" in changed:
        history = state.attrs["status"].history
        return not {*history.added, *history.deleted} <= _SETTLEMENT_STATUSES
    return False


def _comparable(when: object) -> bool:
    """Naive timestamps are refused by the column type itself, with its own message."""
    return isinstance(when, date) and (
        not isinstance(when, datetime) or when.utcoffset() is not None
    )


def _holds(period: ClosedPeriod | ReopenedPeriod, when: date | datetime) -> bool:
    if isinstance(when, datetime):
        return period.starts_at <= when < period.ends_at
    return period.period == f"{when:%Y-%m}"


def _why_closed(
    closed: Sequence[ClosedPeriod], reopened: Sequence[ReopenedPeriod], when: date | datetime
) -> str | None:
    """Why ``when`` is closed (signed off, or before a signed-off month), or None when open.

    The same rule as the database triggers (migration 0004).
    """
    signed = next((period for period in closed if _holds(period, when)), None)
    if signed is not None:
        return closed_message(signed)
    last = max(closed, key=lambda period: period.ends_at)
    before = when < last.ends_at if isinstance(when, datetime) else f"{when:%Y-%m}" < last.period
    if before and not any(_holds(period, when) for period in reopened):
        month = f"{when.astimezone(UTC):%Y-%m}" if isinstance(when, datetime) else f"{when:%Y-%m}"
        return (
            f"period {month} is closed: it was never signed off, but {last.period} after it "
            f"was (by {last.signed_off_by}); book this in the open period, or have the "
            f"controller reopen it (`billing-ops close reopen {month}`)"
        )
    return None


def _label(record: Any) -> str:
    if isinstance(record, InvoiceLine):
        owner = _name(record.invoice) if record.invoice else f"#{record.invoice_id}"
        return f"line {record.position} of invoice {owner}"
    return f"{_DATED[type(record)].noun} {_name(record)}"


def _name(record: Any) -> str:
    for column in ("number", "processor_id"):
        value = getattr(record, column, None)
        if value:
            return str(value)
    return f"#{record.id}" if getattr(record, "id", None) is not None else "(new)"


def _day(when: date | datetime) -> str:
    if isinstance(when, datetime):
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return when.isoformat()
