"""Proration: how a piece of a billing period becomes a fraction of the period's price.

Billing systems disagree on the details (by the second or by the day, which
state pays for the day of a change, a real or a 30-day month, credit now or
at renewal), so the rules are one explicit, named, serialisable
:class:`ProrationPolicy`. An invoice can then be reproduced exactly as another
system computed it, and every line can say which rule produced it.

Billing periods follow the billing anchor: a monthly subscription anchored on
31 January renews on 28 (or 29) February, 31 March, 30 April, always counted
from the anchor so that short months do not drift the day. Time is always a
parameter: timezone-aware datetimes, worked in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Interval = Literal["week", "month", "quarter", "year"]
DayCounting = Literal["half_open", "change_day_to_new_state", "change_day_to_old_state"]
#: The kinds of event whose day can be owned differently (``ProrationPolicy.for_event``).
EventKind = Literal["start", "plan_change", "seat_change", "seat_removal", "termination"]

#: Calendar months in each month-based billing interval (a week is 7 days: ``advance``).
INTERVAL_MONTHS: Mapping[str, int] = MappingProxyType({"month": 1, "quarter": 3, "year": 12})
_WEEK = timedelta(days=7)
_DAY = timedelta(days=1)

_ROUNDINGS: Mapping[str, str] = MappingProxyType(
    {
        "half_up": ROUND_HALF_UP,
        "half_even": ROUND_HALF_EVEN,
        "down": ROUND_DOWN,
        "up": ROUND_UP,
        "floor": ROUND_FLOOR,
        "ceiling": ROUND_CEILING,
    }
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
_SECONDS_PER_DAY = 86_400
_ONE = Decimal(1)
_ZERO = Decimal(0)
#: Fractions are shown (and stored by the ledger) to 12 places; amounts use the exact ratio.
_SHOWN_FRACTION = Decimal("1e-12")


class ProrationError(ValueError):
    """A time or policy the proration rules cannot work with."""


class ProrationPolicy(BaseModel):
    """The rules that turn part of a billing period into an amount.

    ``granularity``
        ``day``: count whole UTC days; ``second``: count seconds (Stripe);
        ``none``: no proration, a piece shorter than its period costs nothing
        and changes take effect, for billing, at the next period.
    ``day_counting`` (day granularity only)
        ``half_open``: a day belongs to the state in force at its first
        instant (00:00 UTC), i.e. the days whose midnight lies in ``[start,
        end)``; the day of a change stays with the old state unless the change
        happens at midnight. ``change_day_to_new_state``: the whole day of a
        change is billed to the new state (changes take effect at the start of
        their day). ``change_day_to_old_state``: the whole day of a change is
        billed to the state before it, even a change at 00:00 (changes take
        effect at the end of their day).
    ``denominator``
        ``actual_period``: the length of the billing period that holds the
        piece (28 to 31 days, a quarter, 365 or 366 days), in the granularity's
        unit; ``fixed_30_day_month``: 30 days per month of the interval (30,
        90, 360), a fraction never above 1 (Zuora's "30 days - actual/360");
        ``thirty_360``: the piece is counted as a 30/360 calendar counts it
        (every month 30 days: 23 May to 15 June is 22 days, not 23) over 30
        days per month of the interval (Kill Bill's fixed-30 mode, Zuora's
        strict 30/360).
    ``fraction_places`` / ``fraction_rounding``
        ``None`` keeps the exact ratio (the amount is ``price * days / days``,
        rounded once to the currency); a number rounds the fraction first,
        as systems that print a rounded factor do.
    ``seat_increase``
        ``prorate_added``: every seat added is charged for the rest of the
        period; ``above_high_water_mark``: only seats above the highest count
        already paid for the period are charged.
    ``decrease``
        seat decreases, add-on removals, pauses and plan downgrades:
        ``credit_now`` credits the unused time at once; ``at_period_end`` gives
        no credit (seat counts drop now, downgrades wait for the renewal).
    ``cancellation``
        the unused time of a cancelled subscription goes to the customer's
        ``account_credit`` or is ``refund``-ed.
    ``start_day``, ``plan_change_day``, ``seat_change_day``, ``termination_day``
        who owns the day of that kind of event, when it differs from
        ``day_counting`` (``None`` follows it). ``change_day_to_old_state``
        bills the whole day of the change to the state before it, even at
        00:00: Lago counts a termination's day as used.
    ``seat_removal_day``
        who owns the day of a step that leaves fewer seats (or fewer units of an
        add-on with its own quantity); ``None`` follows ``seat_change_day``. Lago
        counts the day a unit is removed as used ("deletes the user on October
        22nd ... the period October 1st to October 22nd") and the day one is
        added as billed to it.
    ``anchor_on_change``
        a change of interval ``reset``-s the billing period at the change (the
        anchor moves there: Stripe), or ``keep``-s the customer's billing day:
        the new plan is charged from the change to the next billing day of the
        month, then whole periods from there; or ``realign``-s on it as
        Kill Bill does: the new plan's first period runs from the change to the
        first billing day of the new interval counted from the billing day in
        the change's month (monthly to annual on 12 May, billing day 1: to 1 May
        next year, at most one whole period), whole periods from there, and a
        resume after a pause starts such a period too (Kill Bill,
        ``BillingIntervalDetail.calculateFirstBillingCycleDate``); or keeps the
        ``anniversary``: the new interval's periods are the anchor's own (its day
        and month), so the new plan runs from the change, or from the renewal a
        deferred change waits for, to the anchor's next renewal in the new
        interval, measured against that whole period (Lago: monthly from 29 June
        2023 to yearly on 28 September runs to 29 June 2024, 275 of 366 days; on
        calendar billing, to 1 January).
    ``upgrade_test``
        whether a plan change is an upgrade (applied at once) or a downgrade:
        ``interval``: a longer interval is an upgrade, else a dearer unit
        price; ``daily_price``: the new plan's price per day is at least the
        old one's, over the periods each would bill (Lago).
    ``period_length``
        the period a piece running up to a renewal is measured against:
        ``anchored``: the anchor's own period (anchored on the 31st, 31 Jan
        to 28 Feb is 28 days); ``back_from_end``: one interval counted back
        from the renewal the piece ends on, the day clamped (28 Feb minus a
        month is 28 Jan: 31 days; 30 Apr minus a month is 30 Mar). Kill Bill
        measures a leading proration this way (``InvoiceDateUtils.
        calculateProRationBeforeFirstBillingPeriod``), so a billing day past
        a month's end gives it different fractions. A whole period is 1 either
        way. (The engine's pieces always run up to a renewal.)
    ``credit_limit``
        ``cap``: a credit is at most what was billed for the item in the
        period less what was already credited; ``subtract``: earlier credits
        are first subtracted from the credit, then the same cap applies (Lago
        deducts earlier credit-note items from a termination credit).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    granularity: Literal["day", "second", "none"] = "day"
    day_counting: DayCounting = "change_day_to_new_state"
    denominator: Literal["actual_period", "fixed_30_day_month", "thirty_360"] = "actual_period"
    fraction_places: int | None = Field(default=None, ge=0, le=12)
    fraction_rounding: Literal["half_up", "half_even", "down", "up", "floor", "ceiling"] = "half_up"
    seat_increase: Literal["prorate_added", "above_high_water_mark"] = "above_high_water_mark"
    decrease: Literal["credit_now", "at_period_end"] = "at_period_end"
    cancellation: Literal["account_credit", "refund"] = "account_credit"
    start_day: DayCounting | None = None
    plan_change_day: DayCounting | None = None
    seat_change_day: DayCounting | None = None
    termination_day: DayCounting | None = None
    seat_removal_day: DayCounting | None = None
    anchor_on_change: Literal["reset", "keep", "realign", "anniversary"] = "reset"
    upgrade_test: Literal["interval", "daily_price"] = "interval"
    credit_limit: Literal["cap", "subtract"] = "cap"
    period_length: Literal["anchored", "back_from_end"] = "anchored"

    def for_event(self, kind: EventKind) -> ProrationPolicy:
        """This policy with ``day_counting`` as it applies to ``kind`` of event."""
        owner = getattr(self, _DAY_FIELDS[kind])
        if owner is None and kind == "seat_removal":
            owner = self.seat_change_day
        if owner is None or owner == self.day_counting:
            return self
        return _with_day_counting(self, owner)


#: The field that says who owns the day of each kind of event (not an f-string per call).
_DAY_FIELDS: Mapping[EventKind, str] = MappingProxyType(
    {
        "start": "start_day",
        "plan_change": "plan_change_day",
        "seat_change": "seat_change_day",
        "seat_removal": "seat_removal_day",
        "termination": "termination_day",
    }
)


@cache
def _with_day_counting(policy: ProrationPolicy, owner: DayCounting) -> ProrationPolicy:
    return policy.model_copy(update={"day_counting": owner})


#: The product's default: by the day, the day of a change billed to the new
#: state, the real length of the period, exact fractions; customers pay for
#: the most seats they held in a period (seats given back are not credited
#: until the renewal, and re-adding them costs nothing), downgrades wait for
#: the renewal, and a cancellation's unused time becomes account credit.
DEFAULT_POLICY = ProrationPolicy(name="daily")

#: Lago, calendar billing (the anchor is the 1st): by the day; the day of a
#: start, an upgrade or a unit added goes to the new state, a termination's or a
#: unit removed's day counts as used; an upgrade is a new plan at least as dear
#: per day, applied at once with a credit note for the unused days; a downgrade
#: waits for the period end; a change of interval keeps the subscription's
#: anniversary (a yearly plan runs to the anchor's day and month); earlier
#: credit-note items are deducted from a termination credit.
_LAGO = ProrationPolicy(
    name="lago_calendar",
    granularity="day",
    day_counting="change_day_to_new_state",
    termination_day="change_day_to_old_state",
    seat_removal_day="change_day_to_old_state",
    seat_increase="prorate_added",
    decrease="at_period_end",
    cancellation="account_credit",
    anchor_on_change="anniversary",
    upgrade_test="daily_price",
    credit_limit="subtract",
)

#: Named policies a request can ask for by name. ``daily``, ``second`` and
#: ``none`` are the product's rules at three granularities; the ``*_like``
#: ones reproduce other systems' defaults, as their documentation describes.
PRESETS: Mapping[str, ProrationPolicy] = MappingProxyType(
    {
        "daily": DEFAULT_POLICY,
        "second": DEFAULT_POLICY.model_copy(update={"name": "second", "granularity": "second"}),
        "none": DEFAULT_POLICY.model_copy(update={"name": "none", "granularity": "none"}),
        # Stripe Billing, proration_behavior=create_prorations: to the second
        # over the current period; quantity changes credit or charge the
        # difference at once; credits go to the customer's credit balance.
        "stripe_like": ProrationPolicy(
            name="stripe_like",
            granularity="second",
            seat_increase="prorate_added",
            decrease="credit_now",
            cancellation="account_credit",
        ),
        # Chargebee (day-based billing mode): price per day of the current
        # term; a day is billed to the state it started in; downgrades and
        # quantity decreases create (refundable) credits at once.
        "chargebee_like": ProrationPolicy(
            name="chargebee_like",
            granularity="day",
            day_counting="half_open",
            seat_increase="prorate_added",
            decrease="credit_now",
            cancellation="refund",
        ),
        # Zuora with "assume 30 days - actual/360": actual days from the
        # effective date, divided by 30 per month.
        "zuora_30_day": ProrationPolicy(
            name="zuora_30_day",
            granularity="day",
            day_counting="change_day_to_new_state",
            denominator="fixed_30_day_month",
            seat_increase="prorate_added",
            decrease="credit_now",
            cancellation="account_credit",
        ),
        # Kill Bill: by the day over the real period, a leading piece measured
        # against the interval before the billing day it runs to; the account's
        # billing day (BCD) is kept on a change of plan or interval and the new
        # interval's first period, or the one a resume after a pause starts,
        # runs to its first billing day on or after the change; an immediate
        # change credits the unused time (a repair) to the account's credit
        # balance.
        "killbill_like": ProrationPolicy(
            name="killbill_like",
            granularity="day",
            day_counting="change_day_to_new_state",
            seat_increase="prorate_added",
            decrease="credit_now",
            cancellation="account_credit",
            anchor_on_change="realign",
            period_length="back_from_end",
        ),
        "lago_calendar": _LAGO,
        # Lago, anniversary billing (the anchor is the subscription's start): the
        # same rules; only the anchor differs, and that is the request's.
        "lago_anniversary": _LAGO.model_copy(update={"name": "lago_anniversary"}),
    }
)


def policy_named(name: str) -> ProrationPolicy:
    """The preset called ``name``; the error lists the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ProrationError(f"policy {name!r} is not a preset (known: {known})") from None


def utc(value: datetime, field: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused, naming ``field``.

    A naive time would be read in whatever zone the machine runs in, which
    moves day boundaries and therefore money.
    """
    tz = value.tzinfo
    if tz is UTC:
        return value
    if tz is None or value.utcoffset() is None:
        raise ProrationError(
            f"{field}: {value.isoformat()} has no timezone; "
            "give a timezone-aware time such as 2025-01-01T00:00:00Z"
        )
    return value.astimezone(UTC)


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def shift_months(anchor: datetime, months: int) -> datetime:
    """``anchor`` moved by whole months, the day clamped to the month's end (31 Jan + 1: 28 Feb)."""
    if anchor.tzinfo is UTC and not anchor.fold:
        return _shift_utc(anchor, months)
    return _shift(anchor, months)


@lru_cache(maxsize=4096, typed=True)
def _shift_utc(anchor: datetime, months: int) -> datetime:
    """:func:`_shift`, remembered for UTC times: a bill run moves the same few anchors by
    the same intervals, and ``datetime.replace`` is the dearest step of its calendar work.
    Only UTC keys (fold 0), so equal keys are the same wall-clock time."""
    return _shift(anchor, months)


def _shift(anchor: datetime, months: int) -> datetime:
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month0 = divmod(index, 12)
    day = min(anchor.day, _days_in_month(year, month0 + 1))
    return anchor.replace(year, month0 + 1, day)  # by position: keywords cost more


MAX_INTERVAL_MONTHS = 36
MAX_INTERVAL_WEEKS = 156


def check_interval_count(interval: Interval, interval_count: int, field: str) -> None:
    """Refuse a period of no length or longer than three years (Stripe's limit for
    ``interval_count``: 3 years, 36 months, 156 weeks), naming ``field``."""
    if interval == "week":
        longest = MAX_INTERVAL_WEEKS
    else:
        longest = MAX_INTERVAL_MONTHS // INTERVAL_MONTHS[interval]
    if not 1 <= interval_count <= longest:
        raise ProrationError(
            f"{field}: {interval_count} must be from 1 to {longest}: a billing period of "
            f"{interval_count} × {interval} is not at least one {interval} and at most three years"
        )


def advance(instant: datetime, interval: Interval, count: int, interval_count: int = 1) -> datetime:
    """``instant`` moved by ``count`` periods of ``interval_count`` intervals: whole weeks
    of 7 days, or whole months with the day clamped (from ``instant``'s own day, not an
    anchor's)."""
    if interval == "week":
        return instant + count * interval_count * _WEEK
    return shift_months(instant, count * interval_count * INTERVAL_MONTHS[interval])


def boundary_after(
    anchor: datetime, interval: Interval, at: datetime, interval_count: int = 1
) -> datetime:
    """The first renewal instant of the anchor's schedule strictly after ``at``.

    Renewals are ``anchor + k periods`` for every whole ``k`` (also before
    the anchor, for a first period that runs up to a future anchor); a period
    is ``interval_count`` intervals.
    """
    if interval == "week":
        weeks = interval_count * _WEEK
        return anchor + ((at - anchor) // weeks + 1) * weeks
    step = INTERVAL_MONTHS[interval] * interval_count
    months = (at.year - anchor.year) * 12 + at.month - anchor.month
    # The renewal k = months // step falls in at's month or an earlier one, and
    # the next renewal in a later month: at most two candidates to look at.
    shift = months // step * step
    candidate = shift_months(anchor, shift)
    if candidate > at:
        return candidate
    return shift_months(anchor, shift + step)


def renewal_after(
    anchor: datetime, interval: Interval, renewal: datetime, interval_count: int = 1
) -> datetime:
    """The renewal that follows ``renewal``, itself a renewal of the anchor's schedule."""
    if interval == "week":
        return renewal + interval_count * _WEEK
    months = (renewal.year - anchor.year) * 12 + renewal.month - anchor.month
    return shift_months(anchor, months + INTERVAL_MONTHS[interval] * interval_count)


def period_containing(
    anchor: datetime, interval: Interval, at: datetime, interval_count: int = 1
) -> tuple[datetime, datetime]:
    """The anchor-aligned billing period ``[start, end)`` that contains ``at``."""
    end = boundary_after(anchor, interval, at, interval_count)
    return shift_months_back(anchor, interval, end, interval_count), end


def shift_months_back(
    anchor: datetime, interval: Interval, boundary: datetime, interval_count: int = 1
) -> datetime:
    """The renewal instant one period before ``boundary`` on the anchor's schedule.

    Counted from the anchor, not from ``boundary``: 31 Mar minus a month is 28
    Feb for a schedule anchored on the 28th but 29 Feb in a leap year for one
    anchored on the 31st.
    """
    if interval == "week":
        return boundary - interval_count * _WEEK
    step = INTERVAL_MONTHS[interval] * interval_count
    months = (boundary.year - anchor.year) * 12 + boundary.month - anchor.month
    return shift_months(anchor, months - step)


@dataclass(frozen=True, slots=True)
class Proration:
    """A piece of a period as ``numerator / denominator`` of it, in ``unit``.

    ``fraction`` is what the line shows (12 places, or the policy's rounded
    fraction); :func:`prorate` uses the exact ratio unless the policy rounds.
    """

    numerator: int
    denominator: int
    unit: Literal["days", "seconds", "quarters", "periods"]
    fraction: Decimal
    rounded: bool

    def describe(self) -> str:
        """``22 of 31 days``, ``19.65 of 31 days`` (seconds shown as days), ``3 of 4 quarters``."""
        if self.unit == "seconds":
            days = (Decimal(self.numerator) / _SECONDS_PER_DAY).quantize(Decimal("0.01"))
            total = (Decimal(self.denominator) / _SECONDS_PER_DAY).normalize()
            return f"{days} of {total:f} days"
        if self.unit == "periods":
            return "full period" if self.numerator else "not prorated"
        return f"{self.numerator} of {self.denominator} {self.unit}"


FULL_PERIOD = Proration(1, 1, "periods", _ONE, False)
NOT_PRORATED = Proration(0, 1, "periods", _ZERO, False)


def _day_index(at: datetime, ceil: bool) -> int:
    day = at.toordinal()
    if ceil and (at.hour or at.minute or at.second or at.microsecond):
        return day + 1
    return day


def _second_index(at: datetime) -> int:
    return (at - _EPOCH) // _ONE_SECOND


def _make(
    numerator: int, denominator: int, unit: Literal["days", "seconds"], policy: ProrationPolicy
) -> Proration:
    if denominator <= 0:
        raise ProrationError("proration: the billing period has no length")
    if policy.denominator == "fixed_30_day_month" and numerator > denominator:
        numerator = denominator
    places = policy.fraction_places
    exact = Decimal(numerator) / Decimal(denominator)
    if places is None:
        return Proration(numerator, denominator, unit, exact.quantize(_SHOWN_FRACTION), False)
    shown = exact.quantize(
        Decimal(1).scaleb(-places), rounding=_ROUNDINGS[policy.fraction_rounding]
    )
    return Proration(numerator, denominator, unit, shown, True)


def proration(
    start: datetime,
    end: datetime,
    period_start: datetime,
    period_end: datetime,
    policy: ProrationPolicy,
    interval: Interval,
    interval_count: int = 1,
) -> Proration:
    """The share of the billing period ``[period_start, period_end)`` covered by ``[start, end)``.

    ``[period_start, period_end)`` is the whole (anchor-aligned) period that
    holds the piece, also when the piece is a first partial period; it lasts
    ``interval_count`` intervals. All four times must be timezone-aware. A
    piece that covers the whole period is always exactly 1, whatever the policy.
    """
    start = utc(start, "start")
    end = utc(end, "end")
    period_start = utc(period_start, "period_start")
    period_end = utc(period_end, "period_end")
    if end < start:
        raise ProrationError(f"end: {end.isoformat()} is before start {start.isoformat()}")
    if start < period_start or end > period_end:
        raise ProrationError(
            f"start/end: [{start.isoformat()}, {end.isoformat()}) is not inside the billing "
            f"period [{period_start.isoformat()}, {period_end.isoformat()})"
        )
    if start == period_start and end == period_end:
        return FULL_PERIOD
    granularity = policy.granularity
    if granularity == "none":
        return NOT_PRORATED
    if policy.period_length == "back_from_end":
        # Never shorter than the anchored period (the end's day is at most the anchor's).
        period_start = advance(period_end, interval, -1, interval_count)
    if policy.denominator != "actual_period" and interval == "week":
        raise ProrationError(
            f"denominator: {policy.denominator} counts 30-day months; a weekly interval is "
            "prorated over its actual 7 days (actual_period)"
        )
    if policy.denominator == "thirty_360":
        return _thirty_360(start, end, policy, interval, interval_count)
    fixed = policy.denominator == "fixed_30_day_month"
    if granularity == "second":
        numerator = _second_index(end) - _second_index(start)
        if fixed:
            denominator = 30 * INTERVAL_MONTHS[interval] * interval_count * _SECONDS_PER_DAY
        else:
            denominator = _second_index(period_end) - _second_index(period_start)
        return _make(numerator, denominator, "seconds", policy)
    ceil = policy.day_counting == "half_open"
    numerator = max(_day_index(end, ceil) - _first_day(start, policy), 0)
    if fixed:
        denominator = 30 * INTERVAL_MONTHS[interval] * interval_count
    else:
        denominator = _day_index(period_end, ceil) - _day_index(period_start, ceil)
    return _make(numerator, denominator, "days", policy)


def _first_day(start: datetime, policy: ProrationPolicy) -> int:
    """The day index a piece starting at ``start`` (a change) is billed from."""
    if policy.day_counting == "change_day_to_old_state":
        return start.toordinal() + 1
    return _day_index(start, policy.day_counting == "half_open")


def _thirty_360(
    start: datetime, end: datetime, policy: ProrationPolicy, interval: Interval, interval_count: int
) -> Proration:
    """30E/360: every month has 30 days (the 31st counts as the 30th), a year 360."""
    if policy.granularity != "day":
        raise ProrationError("denominator: thirty_360 counts whole days; use granularity day")
    first = datetime.fromordinal(_first_day(start, policy))
    last = datetime.fromordinal(_day_index(end, policy.day_counting == "half_open"))
    days = (
        360 * (last.year - first.year)
        + 30 * (last.month - first.month)
        + min(last.day, 30)
        - min(first.day, 30)
    )
    denominator = 30 * INTERVAL_MONTHS[interval] * interval_count
    return _make(min(max(days, 0), denominator), denominator, "days", policy)


def prorate(amount: Decimal, share: Proration) -> Decimal:
    """``amount`` times the share, unrounded: the caller rounds once, at the line.

    With an exact policy this is ``amount * numerator / denominator`` (one
    division, 28 significant digits), so splitting a period in two never loses
    more than the two lines' rounding.
    """
    if share.rounded:
        return amount * share.fraction
    if share.numerator == share.denominator:
        return amount
    return amount * share.numerator / share.denominator


def effective_instant(at: datetime, policy: ProrationPolicy) -> datetime:
    """When a change made at ``at`` starts counting under ``policy``.

    Used where a change starts a new billing period (an interval change): the
    new period begins where the policy starts billing the new state, so no
    day or second is billed twice or not at all.
    """
    granularity = policy.granularity
    if granularity == "day":
        midnight = _midnight(at)
        if policy.day_counting == "change_day_to_old_state" or (
            policy.day_counting == "half_open" and midnight != at
        ):
            return midnight + _DAY
        return midnight
    if granularity == "second":
        return _whole_second(at)
    return at


# datetime.replace with keywords costs about four times a constructor call (it parses its
# keywords), and every change's line starts where effective_instant says. The constructor
# makes fold 0 and a plain datetime, so it serves only times of that kind; any other
# keeps replace, which keeps both.


def _midnight(at: datetime) -> datetime:
    """The start of ``at``'s day, in its own zone."""
    if at.fold or type(at) is not datetime:
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return datetime(at.year, at.month, at.day, 0, 0, 0, 0, at.tzinfo)


def _whole_second(at: datetime) -> datetime:
    """``at`` without its microseconds."""
    if at.fold or type(at) is not datetime:
        return at.replace(microsecond=0)
    return datetime(at.year, at.month, at.day, at.hour, at.minute, at.second, 0, at.tzinfo)
