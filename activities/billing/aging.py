"""AR aging: open receivables grouped by how many days past due they are, per currency.

Pure: the caller passes the open items and the as-of date. The CLI, the
Slack command, collections and month-end close all call :func:`age`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from activities.billing.money import ZERO

#: Upper bounds (days past due, inclusive) of the standard buckets: current, 1-30,
#: 31-60, 61-90, then 90+.
DEFAULT_BOUNDS: tuple[int, ...] = (30, 60, 90)


@dataclass(frozen=True, slots=True)
class OpenItem:
    """One open invoice as aging sees it."""

    customer_id: str
    invoice_number: str
    currency: str
    due_date: date
    balance: Decimal


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str
    min_days: int
    max_days: int | None

    def holds(self, days_past_due: int) -> bool:
        if days_past_due < self.min_days:
            return False
        return self.max_days is None or days_past_due <= self.max_days


@dataclass(slots=True)
class AgingRow:
    """Balances per bucket for one key (a customer, or ``*`` for everyone) and currency."""

    key: str
    currency: str
    amounts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), ZERO)


@dataclass(frozen=True, slots=True)
class AgingReport:
    as_of: date
    buckets: tuple[Bucket, ...]
    rows: tuple[AgingRow, ...]
    totals: tuple[AgingRow, ...]


def buckets_from_bounds(bounds: Sequence[int] = DEFAULT_BOUNDS) -> tuple[Bucket, ...]:
    """``(30, 60, 90)`` becomes current, 1-30, 31-60, 61-90, 90+."""
    if not bounds or any(b <= 0 for b in bounds) or list(bounds) != sorted(set(bounds)):
        raise ValueError(f"aging buckets {list(bounds)}: need increasing positive day counts")
    result = [Bucket("current", -(10**6), 0)]
    low = 1
    for high in bounds:
        result.append(Bucket(f"{low}-{high}", low, high))
        low = high + 1
    result.append(Bucket(f"{bounds[-1]}+", low, None))
    return tuple(result)


def days_past_due(due_date: date, as_of: date) -> int:
    return (as_of - due_date).days


def due_status(due_date: date, as_of: date) -> str:
    """An open invoice's standing as a customer reads it: "1 day overdue", "due today",
    "due in 12 days" (one wording for the emails, the ticket facts and the assistant)."""
    days = days_past_due(due_date, as_of)
    if days == 0:
        return "due today"
    count = f"{abs(days)} day{'' if abs(days) == 1 else 's'}"
    return f"{count} overdue" if days > 0 else f"due in {count}"


def age(
    items: Iterable[OpenItem],
    as_of: date,
    buckets: tuple[Bucket, ...] | None = None,
    by_customer: bool = False,
) -> AgingReport:
    """Place every open item in its bucket; totals are per currency, never mixed."""
    buckets = buckets or buckets_from_bounds()
    rows: dict[tuple[str, str], AgingRow] = {}
    totals: dict[str, AgingRow] = {}
    empty = dict.fromkeys((b.label for b in buckets), ZERO)
    for item in items:
        label = _bucket_for(buckets, days_past_due(item.due_date, as_of))
        targets = [totals.setdefault(item.currency, AgingRow("*", item.currency, dict(empty)))]
        if by_customer:
            key = (item.customer_id, item.currency)
            targets.append(
                rows.setdefault(key, AgingRow(item.customer_id, item.currency, dict(empty)))
            )
        for row in targets:
            row.amounts[label] += item.balance
    ordered_rows = tuple(rows[k] for k in sorted(rows))
    ordered_totals = tuple(totals[c] for c in sorted(totals))
    return AgingReport(as_of, buckets, ordered_rows, ordered_totals)


def _bucket_for(buckets: tuple[Bucket, ...], days: int) -> str:
    for bucket in buckets:
        if bucket.holds(days):
            return bucket.label
    raise AssertionError(f"no bucket holds {days} days")  # buckets cover every integer


def bucket_labels(buckets: tuple[Bucket, ...]) -> list[str]:
    return [b.label for b in buckets]
