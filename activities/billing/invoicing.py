"""Invoice drafts: pricing a subscription's changes in a billing period, and assembling the invoice.

The engine is pure. It takes the subscription as it stands at the start of
the current billing period (what it has, and what was already invoiced for
the period), the changes made since, with their times, and the proration
policy; it returns an :class:`InvoiceDraft` whose lines each say what they
are. It reads no clock, file or database: the ledger persists a draft and
gives it its number; the preview prints it.

How changes are priced. Seats and add-ons are billed in advance, per seat.
For every item the engine keeps what has been paid for the rest of the
period (seats, amount billed, amount credited). After each change (changes
at the same instant are applied together, so only their net effect counts)
it compares what the subscription now has with what is paid for:

- a new item, or a new price for an item, is charged for the rest of the
  period (a first partial period up to the billing anchor is such a piece);
- more seats than paid for are charged for the rest of the period: under
  ``above_high_water_mark`` only those above the most already paid, under
  ``prorate_added`` every seat added by the change;
- fewer seats, a removed add-on or a pause is credited for the unused time
  when the policy says ``credit_now``, else nothing changes until renewal;
- an upgrade (a dearer plan, or a longer interval) applies at once: the old
  item's unused time is credited, the new one charged. A downgrade applies
  at once with ``credit_now`` and waits for the renewal with
  ``at_period_end``. A longer interval starts a new billing period at the
  change (the anchor moves), as Stripe does;
- a cancellation credits all unused time, to the account or as a refund.

An add-on may have its own quantity instead of following the seats; its
quantity changes are priced like seat changes, on that add-on alone. An item
whose price is ``in_arrears`` is not paid ahead: the engine records the
quantity it was held at over the period and bills those pieces (seat-days)
when the item leaves the subscription or with the renewal.

A credit never exceeds what was billed for the item in the period less what
was already credited for it. Every line is rounded once, to the currency's
minor unit; discounts and tax are rounded per line too, and the totals are
sums of the rounded lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from activities.billing.money import ROUNDING, ZERO, quantum, round_money
from activities.billing.pricebook import SeatPrice
from activities.billing.proration import (
    DEFAULT_POLICY,
    FULL_PERIOD,
    INTERVAL_MONTHS,
    EventKind,
    Interval,
    Proration,
    ProrationPolicy,
    advance,
    boundary_after,
    check_interval_count,
    effective_instant,
    period_containing,
    prorate,
    proration,
    renewal_after,
    shift_months,
    shift_months_back,
    utc,
)
from activities.billing.tax import NO_TAX, STANDARD, TaxTreatment, line_tax
from activities.billing.usage import UsageCharge, price_usage

LineKind = Literal["charge", "credit"]


class InvoicingError(ValueError):
    """Input the engine cannot price; the message names the field and the rule."""


# --- The result ---------------------------------------------------------------


# The two result classes are not frozen: a bill run builds one line object per line and
# one draft per invoice, and a frozen dataclass's __init__ sets each field through
# object.__setattr__, five to ten times slower than a plain slots class (bench/bill_run.py).
# Nothing changes a draft once built; the ledger stores it as it is.


@dataclass(slots=True)
class InvoiceLineDraft:
    """One line: what it is, for which time, and its rounded money.

    ``amount`` is signed (credits negative); ``discount_amount`` and
    ``tax_amount`` carry the sign of ``amount``. The line's net is
    ``amount - discount_amount`` and tax is on that net, at ``tax_rate`` in
    the EN 16931 VAT category ``tax_category`` (``S``, ``Z``, ``E``, ``AE``, ``O``).
    """

    kind: LineKind
    description: str
    item_code: str
    period_start: datetime
    period_end: datetime
    quantity: Decimal
    unit_amount: Decimal
    proration_fraction: Decimal
    amount: Decimal
    discount_amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    tax_category: str = STANDARD


@dataclass(slots=True)
class InvoiceDraft:
    """A computed invoice, not yet numbered or stored.

    ``total = subtotal - discount_total + tax_total``; ``credit_applied`` is
    account credit used against a positive total and ``amount_due`` what is
    left to pay. A negative total is owed to the customer: it is
    ``credit_to_balance`` (new account credit) or ``refund_due`` (a
    cancellation refunded under the policy). ``notes`` are printed on the
    invoice (tax wording, changes scheduled for the renewal); ``tax`` is the
    treatment every line was taxed under (category, exemption reason).
    """

    currency: str
    lines: tuple[InvoiceLineDraft, ...]
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    credit_applied: Decimal
    amount_due: Decimal
    po_number: str | None
    issue_date: date
    due_date: date
    period_start: datetime | None
    period_end: datetime | None
    credit_to_balance: Decimal
    refund_due: Decimal
    notes: tuple[str, ...] = ()
    tax: TaxTreatment = NO_TAX


# --- The input ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoicedItem:
    """What was already invoiced for one item in the current period.

    ``quantity`` is the number of seats paid for the rest of the period (the
    most paid so far; none while paused under a policy that credits a pause);
    ``amount`` the total charged for the item in the period and ``credited``
    the total credited back.
    """

    price: SeatPrice
    quantity: int
    amount: Decimal
    credited: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription at the start of its current billing period.

    ``period_start`` is the start of the current period (a first partial
    period may start between anchor dates); when ``None`` it is the start of
    the first event if that is a :class:`Started`, else the anchor-aligned
    period holding the first event. ``invoiced`` is what was billed for the
    period; ``None`` means the full period's charge for what the subscription
    has (nothing when it is paused). Per-seat add-ons follow the seat count.
    With ``quarterly_true_up`` (annual contracts), while the period is annual
    (one year), seats added are billed at the next quarterly true-up for the
    rest of the term, and seats removed are not credited; a contract billed
    monthly that moves to annual billing mid-period trues up from its new
    period (seats before the change are priced as any monthly change). Before
    ``trial_end`` nothing is billed: what the events before it leave in force is
    billed from the trial's end.
    ``amount_paid`` is what the customer has paid toward the period's invoiced
    charges, tax included (``None``: all of it); a cancellation refunded under
    the policy refunds at most what was paid less the used time, tax
    included, and the rest becomes account credit (Lago's termination credit
    note). A period lasts ``interval_count`` intervals (every 2 weeks, every 6
    months). Items whose price is ``in_arrears`` are billed for the time they were
    held, by quantity (seat-days), when they end or with the renewal;
    ``arrears_billed`` is what earlier invoices of the period already billed in
    arrears per item (code, amount), deducted so nothing is billed twice.
    ``addon_quantities`` gives an add-on its own quantity (code, quantity),
    billed per unit whatever the seat count; the other add-ons follow the seats.
    """

    currency: str
    anchor: datetime
    interval: Interval
    plan: SeatPrice
    seats: int
    addons: tuple[SeatPrice, ...] = ()
    period_start: datetime | None = None
    invoiced: tuple[InvoicedItem, ...] | None = None
    paused: bool = False
    quarterly_true_up: bool = False
    trial_end: datetime | None = None
    amount_paid: Decimal | None = None
    addon_quantities: tuple[tuple[str, int], ...] = ()
    interval_count: int = 1
    arrears_billed: tuple[tuple[str, Decimal], ...] = ()


@dataclass(frozen=True, slots=True)
class Started:
    """The subscription starts at ``at``; the first (partial) period ends at the next anchor."""

    at: datetime


@dataclass(frozen=True, slots=True)
class SeatsAdded:
    at: datetime
    seats: int


@dataclass(frozen=True, slots=True)
class SeatsRemoved:
    at: datetime
    seats: int


@dataclass(frozen=True, slots=True)
class PlanChanged:
    """A new plan and/or interval (of ``interval_count`` intervals). ``addons`` are the
    add-ons' prices in the new interval; ``None`` keeps the current ones (same interval only)."""

    at: datetime
    plan: SeatPrice
    interval: Interval
    addons: tuple[SeatPrice, ...] | None = None
    interval_count: int = 1


@dataclass(frozen=True, slots=True)
class AddonAdded:
    """An add-on from ``at``; with a ``quantity`` it has its own, else it follows the seats."""

    at: datetime
    addon: SeatPrice
    quantity: int | None = None


@dataclass(frozen=True, slots=True)
class AddonQuantityChanged:
    """An add-on with its own quantity now has ``quantity`` units (a Stripe subscription
    item's quantity update): priced like a seat change, on that add-on only."""

    at: datetime
    code: str
    quantity: int


@dataclass(frozen=True, slots=True)
class AddonRemoved:
    at: datetime
    code: str


@dataclass(frozen=True, slots=True)
class Paused:
    at: datetime


@dataclass(frozen=True, slots=True)
class Resumed:
    at: datetime


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Cancellation effective at ``at``; at the period end it costs and credits nothing."""

    at: datetime


@dataclass(frozen=True, slots=True)
class QuarterlyTrueUp:
    """The quarterly true-up of an annual contract, on a quarter boundary of the term.

    The most seats held since the previous true-up (or ``peak_seats`` when a
    seat count from elsewhere is higher) above those paid are billed for the
    remaining whole quarters of the term.
    """

    at: datetime
    peak_seats: int | None = None


Event = (
    Started
    | SeatsAdded
    | SeatsRemoved
    | PlanChanged
    | AddonAdded
    | AddonRemoved
    | AddonQuantityChanged
    | Paused
    | Resumed
    | Cancelled
    | QuarterlyTrueUp
)


@dataclass(frozen=True, slots=True)
class Discount:
    """A coupon: ``percent`` off, or ``amount_off`` per billing period of one item.

    A percentage applies to every line of ``item_codes`` (all lines when
    empty), credits included, so a credit gives back what was paid. A fixed
    amount applies to lines that bill an item's whole quantity for a period or
    part of one (the first partial period, a renewal, a new plan, a removal
    credit), pro rata to the line's fraction; never more than the line.
    """

    name: str
    percent: Decimal | None = None
    amount_off: Decimal | None = None
    item_codes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Commitment:
    """A minimum spend for ``[period_start, period_end)``, before discounts and tax.

    ``billed_to_date`` is what earlier invoices of the commitment period
    billed for ``item_codes`` (all items when empty); this invoice's lines
    count too. A shortfall is charged as a true-up line. A subscription active
    for part of the period (``active_from`` / ``active_until``, e.g. started or
    terminated inside it) commits to that share of the amount, by the day, as
    Lago prorates a minimum commitment.
    """

    amount: Decimal
    period_start: datetime
    period_end: datetime
    billed_to_date: Decimal = ZERO
    item_codes: frozenset[str] = frozenset()
    active_from: datetime | None = None
    active_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class InvoiceTerms:
    """The commercial terms of the invoice: dates, PO number, tax, discounts, account credit."""

    issue_date: date
    payment_terms_days: int = 30
    po_number: str | None = None
    tax: TaxTreatment = NO_TAX
    discounts: tuple[Discount, ...] = ()
    account_credit: Decimal = ZERO


# --- Pricing the period -----------------------------------------------------------

_ADJECTIVE = {"week": "weekly", "month": "monthly", "quarter": "quarterly", "year": "annual"}
#: Only to order periods by length (which change is to a longer one), never to price:
#: a week is 7 days, a month 30 (so 12 months and a year are the same length).
_NOMINAL_DAYS = {"week": 7, "month": 30, "quarter": 90, "year": 360}


def _adjective(interval: Interval, count: int) -> str:
    """``monthly``, or ``every 6 months`` for a period of several intervals."""
    return _ADJECTIVE[interval] if count == 1 else f"every {count} {interval}s"


def _length(interval: Interval, count: int) -> int:
    return _NOMINAL_DAYS[interval] * count


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(at: datetime) -> str:
    return f"{at.day} {_MONTHS[at.month - 1]} {at.year}"


def _ordinal(day: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``11th``, ``22nd``: a billing day as a note says it."""
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _seats(count: int) -> str:
    return "1 seat" if count == 1 else f"{count} seats"


def _count(count: int, own: bool) -> str:
    """Seats, or plain units for an add-on with its own quantity."""
    return str(count) if own else _seats(count)


@lru_cache(maxsize=4096, typed=True)
def _span(start: datetime, end: datetime) -> str:
    """``1 Jul 2025 – 1 Aug 2025``, for times in UTC (as every time in a period is).

    Remembered: the lines of a bill run fall on a few period boundaries, and the text of
    two dates costs more than looking it up. Keys are UTC times only, so equal keys are
    the same calendar days.
    """
    return f"{_day(start)} – {_day(end)}"


def _share_text(share: Proration) -> str:
    return "" if share is FULL_PERIOD else f" ({share.describe()})"


@lru_cache(maxsize=4096, typed=True)
def _whole_period_text(
    name: str, interval: Interval, count: int, start: datetime, end: datetime
) -> str:
    """`` × Business (monthly), 1 Jul 2025 – 1 Aug 2025``: a whole period's line after its
    quantity. Remembered, like ``_span``: a bill run renews a few prices over a few
    periods, and the text is the same for each (keys are UTC times)."""
    return f" × {name} ({_adjective(interval, count)}), {_span(start, end)}"


def _renewal_after(
    anchor: datetime, interval: Interval, renewal: datetime, interval_count: int
) -> datetime:
    """``renewal_after``, remembered for UTC times of fold 0 (see ``_next_renewal``)."""
    if anchor.tzinfo is UTC and renewal.tzinfo is UTC and not (anchor.fold or renewal.fold):
        return _cached_renewal_after(anchor, interval, renewal, interval_count)
    return renewal_after(anchor, interval, renewal, interval_count)


def _next_renewal(
    anchor: datetime, interval: Interval, at: datetime, interval_count: int
) -> datetime:
    """``boundary_after``, remembered for UTC times of fold 0: a bill run's periods start
    on a few days of a few anchors, and placing one on the calendar costs two month
    shifts. Only UTC keys of fold 0, so equal keys are the same wall-clock times."""
    if anchor.tzinfo is UTC and at.tzinfo is UTC and not (anchor.fold or at.fold):
        return _cached_boundary_after(anchor, interval, at, interval_count)
    return boundary_after(anchor, interval, at, interval_count)


_cached_renewal_after = lru_cache(maxsize=4096, typed=True)(renewal_after)
_cached_boundary_after = lru_cache(maxsize=4096, typed=True)(boundary_after)


@dataclass(slots=True)
class _Line:
    kind: LineKind
    description: str
    code: str
    start: datetime
    end: datetime
    quantity: Decimal
    unit_amount: Decimal
    share: Proration
    amount: Decimal
    whole_item: bool
    discountable: bool = True


@dataclass(slots=True)
class _Paid:
    price: SeatPrice
    quantity: int
    billed: Decimal
    credited: Decimal


@dataclass(frozen=True, slots=True)
class _Undo:
    """What a change of interval found at its instant, so that a change back to the same
    interval and prices at that instant undoes it (issue 15: a change and its reversal on
    the same instant net to zero)."""

    interval: tuple[Interval, int]
    plan: SeatPrice
    addons: dict[str, SeatPrice]
    quantities: dict[str, int]
    swapped: frozenset[str]
    kinds: frozenset[EventKind]
    scheduled: PlanChanged | None
    scheduled_note: str | None
    notes: tuple[str, ...]


class _Period:
    """Prices a subscription's events within its current billing period.

    A plain class with one ``__init__``, not a dataclass: one is built per invoice, and
    the dataclass's generated ``__init__`` (two dozen parameters with defaults, then
    ``__post_init__``) cost about a tenth of a plain renewal (bench/bill_run.py).
    """

    __slots__ = (
        "addons",
        "anchor",
        "arrears",
        "arrears_unbilled",
        "cancelled",
        "currency",
        "cuts",
        "end",
        "hold_start",
        "interval",
        "interval_count",
        "kinds",
        "lines",
        "new_count",
        "new_interval",
        "notes",
        "opened",
        "paid",
        "paused",
        "paused_here",
        "peak",
        "plan",
        "plan_before",
        "policy",
        "quantities",
        "refund",
        "released",
        "resumed",
        "scheduled",
        "scheduled_note",
        "seats",
        "start",
        "started",
        "step_policy",
        "stub",
        "sub",
        "swapped",
        "true_up_peak",
        "true_up_quarter",
        "undo",
    )

    def __init__(self, sub: Subscription, policy: ProrationPolicy) -> None:
        self.sub = sub
        self.policy = policy
        self.currency = sub.currency
        self.anchor: datetime = utc(sub.anchor, "subscription.anchor")
        self.interval: Interval = sub.interval
        self.interval_count: int = sub.interval_count
        if sub.interval_count != 1:
            check_interval_count(sub.interval, sub.interval_count, "subscription.interval_count")
        self.plan: SeatPrice = sub.plan
        self.addons: dict[str, SeatPrice] = (
            {addon.code: addon for addon in sub.addons} if sub.addons else {}
        )
        self.seats: int = sub.seats
        # Add-ons with their own quantity; replaced, never changed in place, so a step's
        # "before" is the dict itself.
        self.quantities: dict[str, int] = dict(sub.addon_quantities)
        # Set by open():
        self.start: datetime
        self.end: datetime
        self.hold_start: datetime | None = None  # the whole period holding this one, on use
        self.started = True
        self.paused = sub.paused
        self.cancelled = False
        self.refund = False
        self.peak = sub.seats
        self.scheduled: PlanChanged | None = None
        self.scheduled_note: str | None = None  # its note, dropped if a later change replaces it
        self.paid: dict[str, _Paid] = {}
        self.released: list[_Paid] = []  # paid items given up this period
        self.lines: list[_Line] = []
        self.notes: list[str] = []
        # Per step (the events of one instant):
        self.step_policy = policy
        self.kinds: set[EventKind] = set()
        self.resumed = False  # a resume in this step (anchor_on_change realign re-aligns on it)
        self.paused_here = False  # a pause in this step
        self.plan_before: SeatPrice | None = None  # the plan before this step's plan changes
        self.swapped: set[str] = set()
        self.new_interval: Interval | None = None
        self.new_count = 1
        self.undo: _Undo | None = None
        # Where changes of interval started a new period (reset) or a piece of one (keep):
        # the periods before each are closed, and usage is billed per period.
        self.cuts: list[datetime] = []
        self.opened: datetime | None = None
        self.stub = False  # a piece of the new interval up to the kept billing day
        self.true_up_quarter = 0
        self.true_up_peak = 0
        # Items billed in arrears: per code, the (from, quantity, price) pieces of the
        # period held so far; None when the subscription has none (nothing to track).
        self.arrears: dict[str, list[tuple[datetime, int, SeatPrice]]] | None = None
        self.arrears_unbilled: dict[str, Decimal] = {}
        if sub.seats < 0:
            raise InvoicingError(f"subscription.seats: {sub.seats} must not be negative")
        for code, amount in sub.arrears_billed:
            if amount < 0 or amount != round_money(amount, self.currency):
                raise InvoicingError(
                    f"subscription.arrears_billed: {code!r} {amount} must be a non-negative "
                    f"amount in {self.currency}"
                )
            self.arrears_unbilled[code] = amount
        for code, quantity in sub.addon_quantities:
            if code not in self.addons:
                raise InvoicingError(
                    f"subscription.addon_quantities: {code!r} is not an add-on of the subscription"
                )
            if quantity < 0:
                raise InvoicingError(
                    f"subscription.addon_quantities: {code!r} quantity {quantity} must not be "
                    "negative"
                )

    def true_ups(self) -> bool:
        """Seats wait for the quarterly true-up: an annual contract while billed a year at a
        time (not in the piece up to a kept billing day, which has no quarter boundary)."""
        return (
            self.sub.quarterly_true_up
            and (self.interval, self.interval_count) == ("year", 1)
            and not self.stub
        )

    def quantity(self, code: str) -> int:
        """How many units of ``code`` the subscription has: its own quantity, or the seats."""
        return self.quantities.get(code, self.seats)

    # The period and what is paid for it.

    def open(self, first: tuple[datetime, Event] | None) -> None:
        """Place the current period: from a start event, from ``period_start``, or
        around the first event; ``first`` is the earliest event with its UTC time."""
        sub = self.sub
        if first is not None and isinstance(first[1], Started):
            if sub.invoiced:
                raise InvoicingError(
                    "subscription.invoiced: a subscription that starts in this invoice "
                    "has nothing invoiced yet"
                )
            self.started = False
            start = first[0]
            if sub.period_start is not None and utc(sub.period_start, "period_start") != start:
                raise InvoicingError(
                    "subscription.period_start: a subscription that starts in this invoice "
                    "has its first period set by the start event; leave period_start out"
                )
            end = boundary_after(self.anchor, self.interval, start, self.interval_count)
        elif sub.period_start is not None:
            start = utc(sub.period_start, "subscription.period_start")
            end = _next_renewal(self.anchor, self.interval, start, self.interval_count)
        elif first is not None:
            start, end = period_containing(
                self.anchor, self.interval, first[0], self.interval_count
            )
        else:
            raise InvoicingError(
                "subscription.period_start: required when there are no events to place the period"
            )
        self.start, self.end = start, end
        self.opened = start
        if first is not None:
            # What is paid is needed only to price changes; a plain renewal skips it.
            self.paid = self._initial_paid() if self.started else {}
        if self.arrears is not None:
            self.track_arrears(start)

    def effective(self) -> dict[str, SeatPrice]:
        """The items in force that are paid in advance."""
        if not self.started or self.paused or self.cancelled:
            return {}
        items = {self.plan.code: self.plan}
        items.update(self.addons)
        if self.arrears is not None:
            return {code: price for code, price in items.items() if not price.in_arrears}
        return items

    # Items billed in arrears.

    def arrears_from(self, at: datetime) -> datetime:
        """Where a change at ``at`` starts or ends a piece billed in arrears: where the
        policy starts billing the new state (the next midnight when the old state owns the
        change's day), so pieces meet at whole days and no day is billed twice."""
        return min(max(effective_instant(at, self.step_policy), self.start), self.end)

    def track_arrears(self, at: datetime) -> None:
        """Record from ``at`` the quantity each item billed in arrears is held at; an item
        that left the subscription (removed, replaced, cancelled) is billed at once up to
        ``at`` (Lago bills the used part of the old plan when a plan in arrears changes)."""
        arrears = self.arrears
        if arrears is None:
            return
        present = {} if self.cancelled else {self.plan.code: self.plan, **self.addons}
        held = self.started and not self.paused
        for code, price in present.items():
            if not price.in_arrears:
                continue
            quantity = self.quantity(code) if held else 0
            pieces = arrears.setdefault(code, [])
            if pieces and pieces[-1][1:] == (quantity, price):
                continue
            if pieces and pieces[-1][0] == at:
                pieces.pop()
            if pieces or quantity:
                pieces.append((at, quantity, price))
        for code in [
            code for code in arrears if code not in present or not present[code].in_arrears
        ]:
            self.bill_arrears(code, at)

    def bill_arrears(self, code: str, until: datetime) -> None:
        """Bill ``code``'s pieces of the period up to ``until``, each its quantity times
        its share of the period, less what earlier invoices billed for it in arrears."""
        assert self.arrears is not None
        pieces = self.arrears.pop(code, [])
        total = ZERO
        for number, (start, quantity, price) in enumerate(pieces):
            end = pieces[number + 1][0] if number + 1 < len(pieces) else until
            if not quantity or end <= start:
                continue
            policy = self.policy
            if policy.granularity == "day" and policy.day_counting != "change_day_to_new_state":
                # The pieces already start at the midnight the policy bills from.
                policy = policy.model_copy(update={"day_counting": "change_day_to_new_state"})
            share = proration(
                start,
                end,
                self.holding_start(),
                self.end,
                policy,
                self.interval,
                self.interval_count,
            )
            amount = round_money(prorate(price.unit_amount * quantity, share), self.currency)
            if not amount:
                continue
            total += amount
            self.lines.append(
                _Line(
                    "charge",
                    f"{quantity} × {self.label(price)} in arrears, {_span(start, end)}"
                    f"{_share_text(share)}",
                    code,
                    start,
                    end,
                    Decimal(quantity),
                    price.unit_amount,
                    share,
                    amount,
                    whole_item=share is FULL_PERIOD,
                )
            )
        earlier = min(self.arrears_unbilled.get(code, ZERO), total)
        if earlier > ZERO:
            self.arrears_unbilled[code] -= earlier
            name = self.lines[-1].description.split(" in arrears")[0]
            self.lines.append(
                _Line(
                    "credit",
                    f"Already billed in arrears this period for {name}",
                    code,
                    pieces[0][0],
                    until,
                    Decimal(1),
                    earlier,
                    FULL_PERIOD,
                    -earlier,
                    whole_item=False,
                )
            )

    def bill_all_arrears(self, until: datetime) -> None:
        if self.arrears:
            for code in list(self.arrears):
                self.bill_arrears(code, until)

    def _initial_paid(self) -> dict[str, _Paid]:
        sub = self.sub
        currency = self.currency
        items = self.effective()
        if sub.invoiced is None:
            share = self.share(self.start)
            nothing = round_money(ZERO, currency)
            paid_now = {}
            for code, item_price in items.items():
                quantity = self.quantity(code)
                amount = round_money(prorate(item_price.unit_amount * quantity, share), currency)
                paid_now[code] = _Paid(item_price, quantity, amount, nothing)
            return paid_now
        paid = {}
        for number, item in enumerate(sub.invoiced):
            where = f"subscription.invoiced[{number}]"
            if item.quantity < 0 or item.amount < 0 or item.credited < 0:
                raise InvoicingError(f"{where}: quantity and amounts must not be negative")
            if item.credited > item.amount:
                raise InvoicingError(f"{where}.credited: more than the {item.amount} billed")
            for name, amount in (("amount", item.amount), ("credited", item.credited)):
                if amount != round_money(amount, currency):
                    raise InvoicingError(
                        f"{where}.{name}: {amount} has more decimal places than {currency}"
                    )
            if self.arrears is not None and any(
                p.code == item.price.code and p.in_arrears
                for p in (self.plan, *self.addons.values())
            ):
                raise InvoicingError(
                    f"{where}.item_code: {item.price.code!r} is billed in arrears; give what "
                    "was billed for it as arrears_billed"
                )
            price = items.get(item.price.code)
            if price is not None and price.unit_amount != item.price.unit_amount:
                raise InvoicingError(
                    f"{where}.unit_amount: {item.price.unit_amount} differs from the "
                    f"subscription's price {price.unit_amount} for {price.code!r}"
                )
            if self.paused and item.quantity and self._credits_decreases():
                # The pause credited the unused time, so no seat is paid for the rest of
                # the period; seats listed as paid beside that credit would be credited
                # again by a resume that realigns, or make a resume free.
                raise InvoicingError(
                    f"{where}.quantity: {item.quantity} paid for the rest of the period, but "
                    "the subscription is paused and the policy credits a pause's unused "
                    "time: give 0 (the resume is charged from its instant)"
                )
            held = self.quantity(item.price.code)
            if price is not None and item.quantity < held and not self.true_ups():
                own = item.price.code in self.quantities
                raise InvoicingError(
                    f"{where}.quantity: {_count(item.quantity, own)} paid is below the "
                    f"{_count(held, own)} in force; bill the missing ones first"
                )
            paid[item.price.code] = _Paid(
                item.price,
                item.quantity,
                round_money(item.amount, currency),
                round_money(item.credited, currency),
            )
        for code in items:
            if code not in paid:
                raise InvoicingError(
                    f"subscription.invoiced: no entry for {code!r}; list every item billed for the "
                    "period, or leave invoiced out to assume the full period was billed"
                )
        return paid

    def holding_start(self) -> datetime:
        """Start of the whole anchor-aligned period that holds the current one (they
        differ for a first partial period)."""
        if self.hold_start is None:
            self.hold_start = shift_months_back(
                self.anchor, self.interval, self.end, self.interval_count
            )
        return self.hold_start

    def share(self, at: datetime) -> Proration:
        """The share of the period from ``at`` to its end (what is paid, or a piece)."""
        return proration(
            at,
            self.end,
            self.holding_start(),
            self.end,
            self.step_policy,
            self.interval,
            self.interval_count,
        )

    def change_share(self, at: datetime) -> Proration:
        """The share of the period from a change at ``at`` to its end. A change at the
        period's first instant whose day the step's policy gives to the old state is billed
        from the next midnight: ``proration`` takes a piece from the period's start for the
        whole period, but Lago counts a termination's day as used even at 00:00
        (``CreditNotes::CreateFromTermination#remaining_duration`` credits from the end of
        the termination's day)."""
        policy = self.step_policy
        if (
            at == self.start
            and policy.granularity == "day"
            and policy.day_counting == "change_day_to_old_state"
        ):
            # From the next midnight, counted as a piece starting there.
            return proration(
                min(effective_instant(at, policy), self.end),
                self.end,
                self.holding_start(),
                self.end,
                policy.model_copy(update={"day_counting": "change_day_to_new_state"}),
                self.interval,
                self.interval_count,
            )
        return self.share(at)

    # Lines.

    def charge(
        self,
        price: SeatPrice,
        quantity: int,
        at: datetime,
        share: Proration,
        text: str,
        whole: bool,
    ) -> Decimal:
        amount = round_money(prorate(price.unit_amount * quantity, share), self.currency)
        if amount:
            start = self.billed_from(at, share)
            self.lines.append(
                _Line(
                    "charge",
                    f"{text}, {_span(start, self.end)}{_share_text(share)}",
                    price.code,
                    start,
                    self.end,
                    Decimal(quantity),
                    price.unit_amount,
                    share,
                    amount,
                    whole,
                )
            )
        return amount

    def credit(
        self, paid: _Paid, quantity: int, at: datetime, share: Proration, text: str, whole: bool
    ) -> None:
        price = paid.price
        amount = round_money(prorate(price.unit_amount * quantity, share), self.currency)
        room = paid.billed - paid.credited
        limited = ""
        if self.policy.credit_limit == "subtract" and paid.credited:
            amount -= paid.credited
            limited = f"; less {paid.credited} credited before"
        if amount > room:
            amount = room if room > ZERO else ZERO
            limited = f"; limited to the {amount} billed and not yet credited"
        if amount <= ZERO:
            return
        paid.credited += amount
        start = self.billed_from(at, share)
        self.lines.append(
            _Line(
                "credit",
                f"{text}, {_span(start, self.end)}{_share_text(share)}{limited}",
                price.code,
                start,
                self.end,
                Decimal(quantity),
                price.unit_amount,
                share,
                -amount,
                whole,
            )
        )

    def billed_from(self, at: datetime, share: Proration) -> datetime:
        """Where a line's time starts counting: a day-granular change counts from its
        day's (or the next day's) midnight, never before the period starts."""
        if share is FULL_PERIOD:
            return at
        return max(effective_instant(at, self.step_policy), self.start)

    def label(self, price: SeatPrice) -> str:
        return f"{price.name} ({_adjective(self.interval, self.interval_count)})"

    # Events.

    def apply(self, number: int, event: Event, at: datetime) -> None:
        where = f"events[{number}]"
        if self.cancelled:
            raise InvoicingError(f"{where}: the subscription is already cancelled")
        if isinstance(event, Started):
            if self.started:
                raise InvoicingError(f"{where}: a start must be the first event")
            self.started = True
            self.kinds.add("start")
            return
        if not self.started:
            raise InvoicingError(f"{where}: the subscription has not started yet")
        if isinstance(event, SeatsAdded | SeatsRemoved):
            self.kinds.add("seat_change")
            if event.seats < 1:
                raise InvoicingError(f"{where}.seats: must be at least 1")
            if isinstance(event, SeatsAdded):
                self.seats += event.seats
                self.peak = max(self.peak, self.seats)
            elif event.seats > self.seats:
                raise InvoicingError(
                    f"{where}.seats: cannot remove {event.seats} of {self.seats} seats"
                )
            else:
                self.seats -= event.seats
        elif isinstance(event, PlanChanged):
            self._change_plan(where, event)
        elif isinstance(event, AddonAdded):
            if event.addon.code in self.addons or event.addon.code == self.plan.code:
                raise InvoicingError(f"{where}.addon: {event.addon.code!r} is already on it")
            self._no_scheduled_addons(where)
            self.addons[event.addon.code] = event.addon
            if event.quantity is not None:
                if event.quantity < 1:
                    raise InvoicingError(f"{where}.quantity: must be at least 1")
                self.quantities = {**self.quantities, event.addon.code: event.quantity}
        elif isinstance(event, AddonRemoved):
            if event.code not in self.addons:
                raise InvoicingError(f"{where}.code: {event.code!r} is not an add-on of it")
            self._no_scheduled_addons(where)
            del self.addons[event.code]
            if event.code in self.quantities:
                self.quantities = {
                    code: n for code, n in self.quantities.items() if code != event.code
                }
        elif isinstance(event, AddonQuantityChanged):
            self.kinds.add("seat_change")
            if event.code not in self.addons or event.code not in self.quantities:
                raise InvoicingError(
                    f"{where}.code: {event.code!r} is not an add-on with its own quantity; "
                    "seats change with seats_added / seats_removed"
                )
            if event.quantity < 1:
                raise InvoicingError(
                    f"{where}.quantity: must be at least 1 (remove the add-on to end it)"
                )
            self.quantities = {**self.quantities, event.code: event.quantity}
        elif isinstance(event, Paused):
            if self.paused:
                raise InvoicingError(f"{where}: the subscription is already paused")
            self.paused = True
            self.paused_here = True
        elif isinstance(event, Resumed):
            if not self.paused:
                raise InvoicingError(f"{where}: the subscription is not paused")
            self.paused = False
            self.resumed = True
        elif isinstance(event, Cancelled):
            self.kinds.add("termination")
            self.cancelled = True
            self.scheduled = None
            self.refund = self.policy.cancellation == "refund"
        else:
            self._plan_true_up(where, event, at)

    def start_used_by_termination(self) -> bool:
        """Whether a termination at the instant of this step's start leaves the start's day
        used: the policy counts a termination's day as used (Lago: a plan subscribed and
        terminated at one instant bills that day, spec/scenarios/
        terminate_pay_in_advance_spec.rb), so the start is a step of its own before it."""
        return (
            "start" in self.kinds
            and self.policy.for_event("termination").day_counting == "change_day_to_old_state"
        )

    def _no_scheduled_addons(self, where: str) -> None:
        if self.scheduled is not None and self.scheduled.addons is not None:
            raise InvoicingError(
                f"{where}: a plan change with its own add-ons is scheduled for the renewal; "
                "change add-ons after it"
            )

    def _change_plan(self, where: str, event: PlanChanged) -> None:
        if event.interval_count != 1:
            check_interval_count(event.interval, event.interval_count, f"{where}.interval_count")
        undo = self.undo
        if (
            undo is not None
            and (event.interval, event.interval_count) == undo.interval
            and event.plan == undo.plan
            and (event.addons is None or {a.code: a for a in event.addons} == undo.addons)
        ):
            # Back to the interval and prices this instant began with: the change of
            # interval made at the same instant is undone, and nothing is billed.
            self.plan, self.addons, self.quantities = undo.plan, dict(undo.addons), undo.quantities
            self.swapped, self.kinds = set(undo.swapped), set(undo.kinds)
            self.scheduled, self.scheduled_note = undo.scheduled, undo.scheduled_note
            self.notes[:] = undo.notes
            self.new_interval, self.new_count, self.undo = None, 1, None
            return
        old_length = _length(self.interval, self.interval_count)
        new_length = _length(event.interval, event.interval_count)
        if new_length != old_length and undo is None:
            self.undo = _Undo(
                (self.interval, self.interval_count),
                self.plan,
                dict(self.addons),
                self.quantities,
                frozenset(self.swapped),
                frozenset(self.kinds),
                self.scheduled,
                self.scheduled_note,
                tuple(self.notes),
            )
        self.kinds.add("plan_change")
        if self.plan_before is None:
            self.plan_before = self.plan
        if new_length != old_length and event.addons is None and self.addons:
            raise InvoicingError(f"{where}.addons: give the add-ons' prices in the new interval")
        if self.policy.upgrade_test == "daily_price":
            downgrade = self._daily_price(
                event.plan, event.interval, event.interval_count, event.at
            ) < self._daily_price(self.plan, self.interval, self.interval_count, event.at)
        elif new_length != old_length:
            downgrade = new_length < old_length
        else:
            downgrade = event.plan.unit_amount < self.plan.unit_amount
        if self.scheduled_note is not None:
            self.notes.remove(self.scheduled_note)
            self.scheduled_note = None
        if downgrade and self.policy.decrease == "at_period_end":
            self.scheduled = event
            adjective = _adjective(event.interval, event.interval_count)
            self.scheduled_note = (
                f"Change to {event.plan.name} ({adjective}) takes effect at the renewal on "
                f"{_day(self.end)}."
            )
            self.notes.append(self.scheduled_note)
            return
        self.scheduled = None
        if event.plan.code != self.plan.code or event.plan.unit_amount != self.plan.unit_amount:
            self.swapped.add(self.plan.code)
        self.plan = event.plan
        if event.addons is not None:
            new_addons = {addon.code: addon for addon in event.addons}
            self.swapped.update(code for code in self.addons if code not in new_addons)
            self.addons = new_addons
            if self.quantities:
                self.quantities = {
                    code: n for code, n in self.quantities.items() if code in new_addons
                }
        if new_length != old_length:
            self.new_interval = event.interval
            self.new_count = event.interval_count

    def _daily_price(
        self, price: SeatPrice, interval: Interval, interval_count: int, at: datetime
    ) -> Decimal:
        """The price of a day of ``price``: its period's price over that period's days,
        the period being the one on the anchor's schedule that holds ``at``."""
        start, end = period_containing(self.anchor, interval, utc(at, "at"), interval_count)
        return price.unit_amount / (end - start).days

    def _plan_true_up(self, where: str, event: QuarterlyTrueUp, at: datetime) -> None:
        if not self.true_ups():
            raise InvoicingError(
                f"{where}: quarterly true-ups are for annual subscriptions with quarterly_true_up"
            )
        for quarter in (1, 2, 3, 4):
            if shift_months(self.holding_start(), 3 * quarter) == at:
                self.true_up_quarter = quarter
                self.true_up_peak = max(self.peak, event.peak_seats or 0)
                return
        dates = ", ".join(_day(shift_months(self.holding_start(), 3 * q)) for q in (1, 2, 3))
        raise InvoicingError(
            f"{where}.at: a quarterly true-up falls on a quarter boundary of the term ({dates})"
        )

    # Reconciling what the subscription has with what is paid for.

    def step(
        self,
        at: datetime,
        before: dict[str, SeatPrice],
        before_seats: int,
        before_quantities: dict[str, int],
    ) -> None:
        policy = self.policy
        kinds = self.kinds
        if "seat_change" in kinds:
            if self.seats == before_seats and self.quantities == before_quantities:
                # Seats added and removed at one instant changed nothing, so they do not
                # decide who owns the day of the instant's other events (a change and its
                # reversal at one instant net to zero, tests/billing/test_properties.py).
                kinds = kinds - {"seat_change"}
            elif self.seats < before_seats or (
                self.seats == before_seats and _fewer(self.quantities, before_quantities)
            ):
                kinds = (kinds - {"seat_change"}) | {"seat_removal"}
        if kinds:
            for kind in _DAY_OWNER_PRECEDENCE:  # a loop, not next() over a generator
                if kind in kinds:
                    policy = policy.for_event(kind)
                    break
        self.step_policy = policy
        anchor_on_change = self.policy.anchor_on_change
        if self.new_interval is not None:
            if anchor_on_change == "reset":
                self._restart(at)
            else:
                self._realign(at)
        elif anchor_on_change == "realign" and self._realigns(at):
            self._realign(at)
        else:
            self._reconcile(at, before, before_seats, before_quantities)
        if self.true_up_quarter:
            self._true_up(at)
        if self.arrears is not None:
            self.track_arrears(self.arrears_from(at))
        self.step_policy = self.policy
        self.kinds.clear()
        self.swapped.clear()
        self.new_interval = None
        self.new_count = 1
        self.undo = None
        self.true_up_quarter = 0
        self.resumed = False
        self.paused_here = False
        self.plan_before = None

    def _credits_decreases(self) -> bool:
        if self.cancelled:
            return True
        return self.policy.decrease == "credit_now" and not self.true_ups()

    def _reconcile(
        self,
        at: datetime,
        before: dict[str, SeatPrice],
        before_seats: int,
        before_quantities: dict[str, int],
    ) -> None:
        paid_items = self.paid
        after = self.effective()
        seats = self.seats
        quantities = self.quantities
        credits = self._credits_decreases()
        share: Proration | None = None
        # Units still owed for the period of items given up uncredited, by what they
        # count: the seats (""), or an add-on's own quantity (its code).
        carried: dict[str, int] = {}
        why = " after cancellation" if self.cancelled else (" while paused" if self.paused else "")
        for code in list(paid_items):
            held = paid_items[code]
            price = after.get(code)
            if price is not None and price.unit_amount == held.price.unit_amount:
                continue
            # Only what this step took away is credited (all of it on cancellation):
            # a paid item that was not in use before the step stays as it is.
            if not (self.cancelled or code in self.swapped or (credits and code in before)):
                continue
            share = share or self.change_share(at)
            text = f"Unused time on {held.quantity} × {self.label(held.price)}{why}"
            self.credit(held, held.quantity, at, share, text, whole=True)
            if not credits:
                key = code if code in before_quantities else ""
                carried[key] = max(carried.get(key, 0), held.quantity)
            self.released.append(paid_items.pop(code))
        increase = self.policy.seat_increase
        for code, price in after.items():
            paid = paid_items.get(code)
            own = code in quantities
            target = quantities[code] if own else seats
            if paid is None:
                quantity = max(target, carried.get(code if own else "", 0))
                share = share or self.change_share(at)
                text = f"{quantity} × {self.label(price)}"
                if at > self.start:
                    text = f"Remaining time on {text}"
                billed = self.charge(price, quantity, at, share, text, whole=True)
                paid_items[code] = _Paid(price, quantity, billed, ZERO)
                continue
            if self.true_ups() and not self.cancelled and not own:
                continue  # seats wait for the quarterly true-up; no credits under the contract
            had = before_quantities.get(code, before_seats)
            if code in before and increase == "prorate_added":
                added = target - had
            else:
                added = target - paid.quantity
            if added > 0:
                share = share or self.change_share(at)
                text = f"{_count(added, own)} added to {self.label(price)}"
                paid.billed += self.charge(price, added, at, share, text, whole=False)
                paid.quantity += added
            elif credits and code in before and min(paid.quantity, had) > target:
                removed = min(paid.quantity, had) - target
                share = share or self.change_share(at)
                text = f"Unused time on {_count(removed, own)} removed from {self.label(price)}"
                self.credit(paid, removed, at, share, text, whole=False)
                paid.quantity -= removed

    def _credit_current_period(self, at: datetime) -> dict[str, int]:
        """Credit every paid item's unused time from ``at``, before a change of interval;
        returns what is still owed for the period when decreases are not credited: the
        seats (under ``""``) and each add-on's own quantity (under its code)."""
        share = self.change_share(at)
        credits = self._credits_decreases()
        carried: dict[str, int] = {}
        for code, paid in self.paid.items():
            text = f"Unused time on {paid.quantity} × {self.label(paid.price)}"
            self.credit(paid, paid.quantity, at, share, text, whole=True)
            if not credits:
                key = code if code in self.quantities else ""
                carried[key] = max(carried.get(key, 0), paid.quantity)
        return carried

    def _owed(self, code: str, carried: dict[str, int]) -> int:
        """Units of ``code`` to bill from an interval change: those held, or more when
        the ones given up were not credited."""
        key = code if code in self.quantities else ""
        return max(self.quantity(code), carried.get(key, 0))

    def _restart(self, at: datetime) -> None:
        """A longer (or, crediting now, shorter) interval: credit the rest of the current
        period, then start a new period of the new interval at the change."""
        interval = self.new_interval
        assert interval is not None
        carried = self._credit_current_period(at)
        self.bill_all_arrears(self.arrears_from(at))
        start = effective_instant(at, self.policy)
        self.cuts.append(start)
        self.stub = False
        self.anchor = self.start = self.hold_start = start
        self.interval = interval
        self.interval_count = count = self.new_count
        self.end = advance(start, interval, 1, count)
        self.peak = self.seats  # a new term: its true-ups count from what it starts with
        self.released.extend(self.paid.values())
        self.paid = {}
        for code, price in self.effective().items():
            quantity = self._owed(code, carried)
            billed = self.charge(
                price, quantity, start, FULL_PERIOD, f"{quantity} × {self.label(price)}", True
            )
            self.paid[code] = _Paid(price, quantity, billed, ZERO)
        self.notes.append(
            f"Billing period restarted on {_day(start)} for {_adjective(interval, count)} billing."
        )

    def _realigns(self, at: datetime) -> bool:
        """Whether a step under ``realign`` starts a period of its own, as a new billing
        event does in Kill Bill: a resume after a pause, or a new plan (price) applied at
        once, whose first billing day on or after the change is not the current period's
        end (an annual or quarterly period; a monthly one runs to the next billing day
        anyway). A pause and resume, or a change and its reversal, at one instant change
        nothing. A weekly plan has no billing day of the month."""
        if self.interval == "week" or not self.started or self.paused or self.cancelled:
            return False
        if self.resumed:
            if self.paused_here:
                return False  # paused and resumed at one instant: never paused
        else:
            if self.plan_before is None or self.plan_before == self.plan:
                return False  # no plan change, or the plan before it (deferred, or reversed)
        start = effective_instant(at, self.step_policy)
        if start >= self.end:
            return False  # the policy bills the change from a day the next period holds
        return self._first_billing_day(at, start, self.interval, self.interval_count) != self.end

    def _first_billing_day(
        self, at: datetime, start: datetime, interval: Interval, count: int
    ) -> datetime:
        """Kill Bill's first billing cycle date for a period of ``count`` × ``interval``
        from a change at ``at``, billed from ``start``: the billing day in ``start``'s month
        (clamped to the month's end), moved on by whole periods until it is not before
        ``start`` (``BillingIntervalDetail.calculateFirstBillingCycleDate``); ``start``
        itself when the change falls on that billing day."""
        anchor = self.anchor
        months = (start.year - anchor.year) * 12 + start.month - anchor.month
        step = INTERVAL_MONTHS[interval] * count
        billing_day = shift_months(anchor, months)
        while billing_day < start:
            months += step
            billing_day = shift_months(anchor, months)
        return start if billing_day <= at else billing_day

    def _realign(self, at: datetime) -> None:
        """A new interval, or under ``realign`` a new plan or a resume, keeping the billing day:
        credit the rest of the current period, then charge the plan from the change to the
        next billing day (a period of the new interval ending there), from where whole
        periods follow. ``keep`` runs to the next billing day of the month; ``realign`` to
        the first billing day of the new interval counted from the one in the change's
        month (Kill Bill); ``anniversary`` to the next renewal of the new interval on the
        anchor's own schedule (Lago: monthly from 29 June to yearly runs to 29 June)."""
        interval = self.new_interval or self.interval
        count = self.new_count if self.new_interval is not None else self.interval_count
        if "week" in (interval, self.interval):
            raise InvoicingError(
                "policy.anchor_on_change: a weekly plan has a billing weekday, not a billing "
                "day of the month; a change to or from weekly billing needs anchor_on_change reset"
            )
        carried = self._credit_current_period(at)
        self.bill_all_arrears(self.arrears_from(at))
        start = effective_instant(at, self.step_policy)
        rule = self.policy.anchor_on_change
        if rule == "realign":
            billing_day = self._first_billing_day(at, start, interval, count)
        elif rule == "anniversary":
            billing_day = boundary_after(self.anchor, interval, start, count)
            if shift_months_back(self.anchor, interval, billing_day, count) == start:
                billing_day = start  # the change falls on an anniversary: a whole period
        else:
            billing_day = boundary_after(self.anchor, "month", start)
            if shift_months(billing_day, -1) == start:
                billing_day = start  # the change falls on a billing day: a whole period from it
        self.cuts.append(start)
        if rule == "anniversary":
            # The anchor stays: its schedule in the new interval holds billing_day.
            hold_start = shift_months_back(self.anchor, interval, billing_day, count)
        else:
            self.anchor = billing_day
            hold_start = advance(billing_day, interval, -1, count)
        self.interval = interval
        self.interval_count = count
        self.peak = self.seats
        self.stub = billing_day != start
        if billing_day == start:
            self.start = self.hold_start = start
            self.end = advance(start, interval, 1, count)
        else:
            self.start = start
            self.end = billing_day
            self.hold_start = hold_start
        self.released.extend(self.paid.values())
        self.paid = {}
        # A piece is measured from the change itself: start is already where the step's
        # policy bills from, and measuring from it would move the day once more.
        origin = start if billing_day == start else at
        piece = self.share(origin)
        for code, price in self.effective().items():
            quantity = self._owed(code, carried)
            text = f"{quantity} × {self.label(price)}"
            if piece is not FULL_PERIOD:
                text = f"Remaining time on {text}"
            billed = self.charge(price, quantity, origin, piece, text, True)
            self.paid[code] = _Paid(price, quantity, billed, ZERO)
        self.notes.append(
            f"{_adjective(interval, count).capitalize()} billing from {_day(start)}; "
            f"the billing day stays the {_ordinal(billing_day.day)}."
        )

    def _true_up(self, at: datetime) -> None:
        quarter = self.true_up_quarter
        remaining = 4 - quarter
        peak = self.true_up_peak
        share = Proration(remaining, 4, "quarters", Decimal(remaining) / 4, False)
        for code, price in self.effective().items():
            paid = self.paid.get(code)
            if paid is None or peak <= paid.quantity or code in self.quantities:
                continue
            extra = peak - paid.quantity
            if remaining:
                text = (
                    f"Quarterly true-up: {_seats(extra)} above the {paid.quantity} paid on "
                    f"{self.label(price)}"
                )
                paid.billed += self.charge(price, extra, at, share, text, whole=False)
            paid.quantity = peak
        self.peak = self.seats

    def refund_limit(self, terms: InvoiceTerms) -> Decimal | None:
        """How much of a cancellation may be refunded: what was paid less the used time
        (what stays billed once credits are taken off), after percentage discounts and
        with tax, as Lago's ``calculate_refund`` does; ``None`` when the whole period is
        taken as paid. A fixed-amount coupon is not taken off the used time, so the
        refund errs low, never above what was paid."""
        paid = self.sub.amount_paid
        if paid is None or not self.refund:
            return None
        currency = self.currency
        if paid < 0 or paid != round_money(paid, currency):
            raise InvoicingError(
                f"subscription.amount_paid: {paid} must be a non-negative amount in {currency}"
            )
        used_total = ZERO
        for item in (*self.paid.values(), *self.released):
            used = item.billed - item.credited
            line = _Line(
                "charge",
                "",
                item.price.code,
                self.start,
                self.end,
                Decimal(item.quantity),
                item.price.unit_amount,
                FULL_PERIOD,
                used,
                whole_item=False,
            )
            net = used - _discount(line, terms.discounts, currency) if terms.discounts else used
            used_total += net + (line_tax(net, terms.tax, currency) if terms.tax.rate else ZERO)
        return max(paid - used_total, ZERO)

    def renew(self) -> None:
        """Bill the next period in advance, with any change scheduled for the renewal."""
        self.bill_all_arrears(self.end)
        if self.cancelled:
            return
        start = self.end
        interval, count = self.interval, self.interval_count
        stub = False
        if self.scheduled is not None:
            change = self.scheduled
            self.plan = change.plan
            if change.addons is not None:
                self.addons = {addon.code: addon for addon in change.addons}
            if (change.interval, change.interval_count) != (interval, count):
                interval = self.interval = change.interval
                count = self.interval_count = change.interval_count
                if self.policy.anchor_on_change == "anniversary":
                    stub = True  # the new interval runs on the anchor's schedule
                else:
                    self.anchor = start
        if stub:
            end = boundary_after(self.anchor, interval, start, count)
            hold_start = shift_months_back(self.anchor, interval, end, count)
            stub = hold_start != start
        else:
            end = _renewal_after(self.anchor, interval, start, count)
        if self.paused:
            self.notes.append(f"Paused: the period from {_day(start)} is billed when it resumes.")
            return
        self.start = start
        self.end = end
        self.stub = stub
        if stub:
            # A piece of the new interval up to the anchor's next renewal of it.
            self.hold_start = hold_start
            piece = self.share(start)
            for code, price in self.effective().items():
                quantity = self.quantity(code)
                text = f"{quantity} × {self.label(price)}"
                self.charge(price, quantity, start, piece, text, True)
            self.notes.append(
                f"{_adjective(interval, count).capitalize()} billing from {_day(start)} to "
                f"the anniversary on {_day(end)}."
            )
            return
        self.hold_start = start
        unit = quantum(self.currency)
        lines = self.lines
        for code, price in self.effective().items():
            quantity = self.quantity(code)
            # charge() for a whole period, its text remembered per price and period.
            amount = (price.unit_amount * quantity).quantize(unit, ROUNDING)
            if amount:
                text = _whole_period_text(price.name, interval, count, start, end)
                lines.append(
                    _Line(
                        "charge",
                        f"{quantity}{text}",
                        code,
                        start,
                        end,
                        Decimal(quantity),
                        price.unit_amount,
                        FULL_PERIOD,
                        amount,
                        True,
                    )
                )


def _has_arrears(subscription: Subscription, events: Sequence[Event]) -> bool:
    if subscription.plan.in_arrears:
        return True
    for addon in subscription.addons:  # a loop, not any(): no generator for every invoice
        if addon.in_arrears:
            return True
    for event in events:
        if isinstance(event, PlanChanged) and (
            event.plan.in_arrears or any(addon.in_arrears for addon in event.addons or ())
        ):
            return True
        if isinstance(event, AddonAdded) and event.addon.in_arrears:
            return True
    return False


def _after_trial(
    timed: list[tuple[datetime, int, Event]], trial_end: datetime
) -> list[tuple[datetime, int, Event]]:
    """Events of the trial take effect, for billing, together at its end: nothing is owed
    for the trial, and only their net effect is billed from then on."""
    if not timed or not isinstance(timed[0][2], Started):
        raise InvoicingError(
            "subscription.trial_end: a trial belongs to the invoice that starts the subscription"
        )
    return sorted(((max(at, trial_end), number, event) for at, number, event in timed))


def _price_period(
    subscription: Subscription, events: Sequence[Event], policy: ProrationPolicy, renew: bool
) -> _Period:
    period = _Period(subscription, policy)
    if _has_arrears(subscription, events):
        period.arrears = {}
    # In time order; the index breaks ties, so events keep their given order at one instant.
    # (A list sorted in place: a generator fed to sorted() cost more than the sort. The
    # field name is written only for a time that is not already in UTC.)
    timed = (
        [
            (
                event.at if event.at.tzinfo is UTC else utc(event.at, f"events[{number}].at"),
                number,
                event,
            )
            for number, event in enumerate(events)
        ]
        if events
        else []
    )
    if len(timed) > 1:
        timed.sort()
    if subscription.trial_end is not None:
        timed = _after_trial(timed, utc(subscription.trial_end, "subscription.trial_end"))
        period.notes.append(f"Free trial until {_day(subscription.trial_end)}.")
    period.open((timed[0][0], timed[0][2]) if timed else None)
    index, count = 0, len(timed)
    while index < count:
        at, number, _ = timed[index]
        if at < period.start or at > period.end:
            raise InvoicingError(
                f"events[{number}].at: {at.isoformat()} is outside the current billing period "
                f"[{period.start.isoformat()}, {period.end.isoformat()}]"
            )
        before = period.effective()
        before_seats = period.seats
        before_quantities = period.quantities
        while index < count and timed[index][0] == at:
            _, number, event = timed[index]
            if isinstance(event, Cancelled) and period.start_used_by_termination():
                # The start is billed first, so the termination's day is used, not netted away.
                period.step(at, before, before_seats, before_quantities)
                before, before_seats = period.effective(), period.seats
                before_quantities = period.quantities
            period.apply(number, event, at)
            index += 1
        period.step(at, before, before_seats, before_quantities)
    if renew:
        period.renew()
    return period


#: When the events of one instant are of several kinds, the first listed owns the day.
_DAY_OWNER_PRECEDENCE: tuple[EventKind, ...] = (
    "termination",
    "plan_change",
    "start",
    "seat_change",
    "seat_removal",
)


def _fewer(quantities: dict[str, int], before: dict[str, int]) -> bool:
    """Whether an add-on with its own quantity has fewer units than ``before``."""
    return any(quantity < before.get(code, quantity) for code, quantity in quantities.items())


# --- Assembling the invoice ----------------------------------------------------------


def _usage_lines(charges: Iterable[UsageCharge], currency: str) -> list[_Line]:
    lines = []
    for charge in charges:
        start = charge.period_start
        if start.tzinfo is not UTC:
            start = utc(start, f"usage {charge.code} period_start")
        end = charge.period_end
        if end.tzinfo is not UTC:
            end = utc(end, f"usage {charge.code} period_end")
        for piece in price_usage(charge, currency):
            if not piece.amount:
                continue
            lines.append(
                _Line(
                    "credit" if piece.amount < 0 else "charge",
                    piece.description,
                    charge.code,
                    start,
                    end,
                    piece.quantity,
                    piece.unit_amount,
                    FULL_PERIOD,
                    piece.amount,
                    whole_item=True,
                )
            )
    return lines


def _committed(commitment: Commitment, currency: str) -> tuple[Decimal, str]:
    """The amount committed for the time the subscription was active, and how it was cut."""
    start = utc(commitment.period_start, "commitment.period_start")
    end = utc(commitment.period_end, "commitment.period_end")
    active_from = utc(commitment.active_from or start, "commitment.active_from")
    active_until = utc(commitment.active_until or end, "commitment.active_until")
    if not start <= active_from < active_until <= end:
        raise InvoicingError(
            "commitment.active_from/active_until: the active time must be a non-empty part "
            f"of the commitment period [{start.isoformat()}, {end.isoformat()})"
        )
    if (active_from, active_until) == (start, end):
        return commitment.amount, ""
    days = active_until.toordinal() - active_from.toordinal()
    whole = end.toordinal() - start.toordinal()
    share = round_money(commitment.amount * days / whole, currency)
    return share, f" (prorated, {days} of {whole} days)"


def _commitment_line(commitment: Commitment, lines: Sequence[_Line], currency: str) -> _Line | None:
    """The true-up of a shortfall. Only this invoice's lines whose service starts inside
    the commitment period count, as the ledger counts issued invoices
    (activities/recurring/commitments.py): the next period billed in advance with the
    renewal does not (Lago's minimum commitment scenarios true up February at 612.76
    on the invoice that also bills March in advance)."""
    codes = commitment.item_codes
    start = utc(commitment.period_start, "commitment.period_start")
    end = utc(commitment.period_end, "commitment.period_end")
    billed = commitment.billed_to_date + sum(
        (
            line.amount
            for line in lines
            if start <= line.start < end and (not codes or line.code in codes)
        ),
        ZERO,
    )
    committed, cut = _committed(commitment, currency)
    shortfall = round_money(committed - billed, currency)
    if shortfall <= ZERO:
        return None
    return _Line(
        "charge",
        f"Minimum commitment true-up: {committed} committed{cut}, {billed} billed, "
        f"{_day(start)} – {_day(end)}",
        "minimum_commitment",
        start,
        end,
        Decimal(1),
        shortfall,
        FULL_PERIOD,
        shortfall,
        whole_item=False,
        discountable=False,
    )


def _discount(line: _Line, discounts: Sequence[Discount], currency: str) -> Decimal:
    amount = line.amount
    raw = ZERO
    for discount in discounts:
        if discount.item_codes and line.code not in discount.item_codes:
            continue
        if discount.percent is not None:
            raw += amount * discount.percent / 100
        elif discount.amount_off is not None and line.whole_item:
            off = prorate(discount.amount_off, line.share)
            raw += off if amount > 0 else -off
    if abs(raw) > abs(amount):
        raw = amount
    return round_money(raw, currency)


def _assemble(
    currency: str,
    lines: Sequence[_Line],
    terms: InvoiceTerms,
    notes: list[str],
    refund: bool,
    refund_limit: Decimal | None = None,
) -> InvoiceDraft:
    # The minor unit looked up once: each line's tax is ``line_tax`` (its net times the
    # rate, rounded once by the one rule) without two calls per line.
    unit = quantum(currency)
    zero = ZERO.quantize(unit, ROUNDING)
    treatment = terms.tax
    rate = treatment.rate
    category = treatment.category
    discounts = terms.discounts
    drafts = []
    subtotal = discount_total = tax_total = zero
    period_start: datetime | None = None
    period_end: datetime | None = None
    for line in lines:
        amount = line.amount
        start = line.start
        end = line.end
        discount = _discount(line, discounts, currency) if discounts and line.discountable else zero
        tax = ((amount - discount) * rate).quantize(unit, ROUNDING) if rate else zero
        drafts.append(
            InvoiceLineDraft(
                line.kind,
                line.description,
                line.code,
                start,
                end,
                line.quantity,
                line.unit_amount,
                line.share.fraction,
                amount,
                discount,
                rate,
                tax,
                category,
            )
        )
        subtotal += amount
        if discount:  # adding a zero of the same minor unit changes nothing
            discount_total += discount
        if tax:
            tax_total += tax
        # The earliest start and the latest end, the first one met on a tie (as min and max).
        if period_start is None or start < period_start:
            period_start = start
        if period_end is None or end > period_end:
            period_end = end
    total = subtotal - discount_total + tax_total
    credit = terms.account_credit
    credit_applied = zero
    if credit and total > zero:
        credit_applied = min(credit.quantize(unit, ROUNDING), total)
    owed_back = -total if total < zero else zero
    refunded = zero
    if refund:
        refunded = owed_back if refund_limit is None else min(owed_back, refund_limit)
    if treatment.note:
        notes.append(treatment.note)
    issue_date = terms.issue_date
    # By position: InvoiceDraft's fields in their order (keywords cost a lookup each).
    return InvoiceDraft(
        currency,
        tuple(drafts),
        subtotal,
        discount_total,
        tax_total,
        total,
        credit_applied,
        total - credit_applied if total > zero else zero,
        terms.po_number,
        issue_date,
        issue_date + timedelta(terms.payment_terms_days),  # days, by position: keywords cost more
        period_start,
        period_end,
        owed_back - refunded,
        refunded,
        tuple(notes),
        treatment,
    )


def draft_invoice(
    subscription: Subscription,
    events: Sequence[Event] = (),
    *,
    terms: InvoiceTerms,
    policy: ProrationPolicy = DEFAULT_POLICY,
    usage: Sequence[UsageCharge] = (),
    commitment: Commitment | None = None,
    renew: bool = False,
) -> InvoiceDraft:
    """The invoice for ``events`` in the subscription's current period.

    Lines come in this order: the changes, in time order (credits before
    charges at each instant); with ``renew``, the next period in advance;
    then ``usage`` in arrears; then a minimum-commitment true-up. Raises
    :class:`InvoicingError` (or a ``ValueError`` from the proration and usage
    rules) naming the bad field.
    """
    if terms.payment_terms_days < 0:
        raise InvoicingError("payment_terms_days: must not be negative")
    currency = subscription.currency
    credit = terms.account_credit
    if credit and (credit < 0 or credit != round_money(credit, currency)):
        raise InvoicingError(
            f"account_credit: {terms.account_credit} must be a non-negative amount in {currency}"
        )
    period = _price_period(subscription, events, policy, renew)
    lines = period.lines
    if usage:
        lines.extend(_usage_lines(usage, currency))
    if commitment is not None:
        true_up = _commitment_line(commitment, lines, currency)
        if true_up is not None:
            lines.append(true_up)
    limit = period.refund_limit(terms)
    return _assemble(currency, lines, terms, period.notes, period.refund, limit)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Where a subscription's billing stands after its period's events: the billing
    anchor, the interval, and the period now running (``start`` to ``end``, the renewal)."""

    anchor: datetime
    interval: Interval
    interval_count: int
    start: datetime
    end: datetime
    #: The billing periods the events made of the current one, in time order, the last
    #: ``start`` to ``end``: a change of interval closes the period before it (reset), or
    #: starts a piece of the new interval (keep). Usage in arrears is measured per period.
    periods: tuple[tuple[datetime, datetime], ...] = ()


def schedule_after(
    subscription: Subscription,
    events: Sequence[Event] = (),
    *,
    policy: ProrationPolicy = DEFAULT_POLICY,
) -> Schedule:
    """The period and anchor the engine bills from after ``events``, without the renewal.

    A change of interval moves them (``policy.anchor_on_change``: ``reset`` starts a new
    period at the change, ``keep`` runs to the next billing day); the ledger keeps its
    period and anchor where the engine has them, so the bill run renews on the very day
    the engine's draft renews. A change scheduled for the renewal does not move them yet.
    """
    period = _price_period(subscription, events, policy, renew=False)
    assert period.opened is not None
    starts = [period.opened, *period.cuts]
    ends = [*period.cuts, period.end]
    return Schedule(
        period.anchor,
        period.interval,
        period.interval_count,
        period.start,
        period.end,
        tuple((start, end) for start, end in zip(starts, ends, strict=True) if start < end),
    )
