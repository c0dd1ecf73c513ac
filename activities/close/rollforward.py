"""The AR roll-forward per currency, and AR by aging bucket at each of the last twelve month-ends.

Pure: both are sums over :class:`~activities.close.movements.Movement` rows.

The roll-forward walks from the opening AR through the period's movements
to a closing figure. The check figure is computed independently: the open
balance each booked invoice holds today (the ledger's cached ``balance``),
wound back by what moved after the cut-off. The two agree when every cached
balance matches its history and no movement is dated before its invoice was
issued; any difference is an exception that blocks sign-off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import accumulate

from activities.billing.aging import AgingReport, OpenItem, age
from activities.billing.money import ZERO, round_money
from activities.close.movements import CutOffs, Kind, Movement

#: The roll-forward's lines between opening and closing, in the order an accountant reads them.
MOVEMENT_LINES: tuple[tuple[Kind, str], ...] = (
    (Kind.INVOICED, "Invoiced (invoice totals)"),
    (Kind.ACCOUNT_CREDIT, "Account credit applied on invoices"),
    (Kind.CASH, "Cash applied"),
    (Kind.REVERSAL, "Adjustments: refunds re-opening invoices"),
    (Kind.CREDIT_NOTE, "Credit notes on invoices"),
    (Kind.WRITE_OFF, "Write-offs"),
)
AR_KINDS = frozenset(kind for kind, _ in MOVEMENT_LINES)


@dataclass(frozen=True, slots=True)
class RollForward:
    currency: str
    opening: Decimal
    movements: tuple[tuple[Kind, Decimal], ...]
    closing_from_invoices: Decimal

    @property
    def closing(self) -> Decimal:
        return self.opening + sum((amount for _, amount in self.movements), ZERO)

    @property
    def difference(self) -> Decimal:
        """Independent closing less roll-forward closing: zero when the ledger ties."""
        return self.closing_from_invoices - self.closing

    def movement(self, kind: Kind) -> Decimal:
        return dict(self.movements)[kind]


def roll_forward(movements: Sequence[Movement], cut_offs: CutOffs) -> tuple[RollForward, ...]:
    """One roll-forward per currency that has any AR history, alphabetical."""
    by_currency: dict[str, list[Movement]] = {}
    for movement in movements:
        by_currency.setdefault(movement.currency, []).append(movement)
    return tuple(
        _one_currency(currency, by_currency[currency], cut_offs) for currency in sorted(by_currency)
    )


def _one_currency(currency: str, rows: Sequence[Movement], cut_offs: CutOffs) -> RollForward:
    before, period, after = cut_offs.opening, cut_offs.closing, cut_offs.after

    def total(kinds: Iterable[Kind], match: Callable[[Movement], bool]) -> Decimal:
        wanted = frozenset(kinds)
        amount = sum((m.amount for m in rows if m.kind in wanted and match(m)), ZERO)
        return round_money(amount, currency)

    opening = total(AR_KINDS, lambda m: m.issued <= before and m.at <= before)
    lines = tuple((kind, total((kind,), lambda m: m.at == period)) for kind, _ in MOVEMENT_LINES)
    balance_today = total((Kind.BALANCE,), lambda m: m.issued <= period)
    moved_since = total(AR_KINDS, lambda m: m.issued <= period and m.at == after)
    return RollForward(currency, opening, lines, balance_today - moved_since)


@dataclass(frozen=True, slots=True)
class AgingHistory:
    """AR by aging bucket at each month-end, oldest first (one :class:`AgingReport` each)."""

    reports: tuple[AgingReport, ...]

    @property
    def at_cut_off(self) -> AgingReport:
        return self.reports[-1]


def aging_history(movements: Sequence[Movement], cut_offs: CutOffs) -> AgingHistory:
    """AR at each month-end, aged by due date with the standard buckets.

    A movement counts from the first month-end that both it and its invoice are in
    (``max(issued, at)``) onwards, so each currency and due date is a running sum over
    the months: one pass over the movements, not one per month.
    """
    months = len(cut_offs.periods)
    starting: dict[tuple[str, date], list[Decimal]] = {}
    for m in movements:
        first = max(m.issued, m.at)
        if m.kind in AR_KINDS and first <= months:
            key = (m.currency, m.due_date)
            starting.setdefault(key, [ZERO] * months)[first - 1] += m.amount
    running = sorted((key, list(accumulate(amounts))) for key, amounts in starting.items())
    reports = []
    for index, period in enumerate(cut_offs.periods):
        items = (
            OpenItem("*", "", currency, due, amounts[index])
            for (currency, due), amounts in running
            if amounts[index]
        )
        reports.append(age(items, period.last_day))
    return AgingHistory(tuple(reports))
