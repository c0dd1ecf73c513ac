"""Billing periods and proration fractions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from activities.billing.proration import (
    DEFAULT_POLICY,
    PRESETS,
    ProrationError,
    ProrationPolicy,
    boundary_after,
    effective_instant,
    period_containing,
    policy_named,
    prorate,
    proration,
    shift_months,
)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_anchor_on_the_31st_bills_on_the_last_day_of_shorter_months() -> None:
    """Stripe, "Set the subscription billing renewal date": a monthly subscription
    anchored on January 31 bills on February 28 (29 in a leap year), then March 31,
    April 30. https://docs.stripe.com/billing/subscriptions/billing-cycle
    """
    anchor = at(2025, 1, 31)
    assert [shift_months(anchor, n).date().isoformat() for n in range(1, 4)] == [
        "2025-02-28",
        "2025-03-31",
        "2025-04-30",
    ]
    assert shift_months(at(2024, 1, 31), 1) == at(2024, 2, 29)
    # Counted from the anchor, not from the previous renewal: no drift to the 28th.
    assert boundary_after(anchor, "month", at(2025, 3, 1)) == at(2025, 3, 31)
    assert period_containing(anchor, "month", at(2025, 3, 31)) == (at(2025, 3, 31), at(2025, 4, 30))


def test_periods_before_a_future_anchor_and_for_quarters_and_years() -> None:
    assert period_containing(at(2025, 6, 1), "month", at(2025, 5, 15)) == (
        at(2025, 5, 1),
        at(2025, 6, 1),
    )
    assert period_containing(at(2024, 11, 30), "quarter", at(2025, 3, 1)) == (
        at(2025, 2, 28),
        at(2025, 5, 30),
    )
    assert period_containing(at(2024, 2, 29), "year", at(2025, 2, 28)) == (
        at(2025, 2, 28),
        at(2026, 2, 28),
    )
    assert boundary_after(at(2025, 1, 1), "month", at(2025, 2, 1)) == at(2025, 3, 1)


def test_day_counting_decides_who_pays_for_the_day_of_a_change() -> None:
    january = (at(2025, 1, 1), at(2025, 2, 1))
    change = at(2025, 1, 10, 14, 30)
    new_state = proration(change, january[1], *january, DEFAULT_POLICY, "month")
    assert (new_state.numerator, new_state.denominator) == (22, 31)  # 10..31 January
    assert new_state.describe() == "22 of 31 days"
    half_open = PRESETS["chargebee_like"]
    old_state_keeps_it = proration(change, january[1], *january, half_open, "month")
    assert (old_state_keeps_it.numerator, old_state_keeps_it.denominator) == (21, 31)
    # At midnight both conventions agree.
    midnight = proration(at(2025, 1, 10), january[1], *january, half_open, "month")
    assert midnight.numerator == 22


def test_by_the_second_and_the_whole_period() -> None:
    march = (at(2025, 3, 1), at(2025, 4, 1))
    share = proration(at(2025, 3, 12, 9), march[1], *march, PRESETS["second"], "month")
    assert (share.numerator, share.denominator) == (19 * 86_400 + 15 * 3600, 31 * 86_400)
    assert share.describe() == "19.62 of 31 days"
    whole = proration(*march, *march, PRESETS["none"], "month")
    assert whole.fraction == 1
    assert proration(at(2025, 3, 2), march[1], *march, PRESETS["none"], "month").fraction == 0


def test_a_fixed_30_day_month_never_bills_more_than_the_period() -> None:
    january = (at(2025, 1, 1), at(2025, 2, 1))
    policy = PRESETS["zuora_30_day"]
    assert proration(at(2025, 1, 18), january[1], *january, policy, "month").describe() == (
        "14 of 30 days"
    )
    capped = proration(at(2025, 1, 1, 12), january[1], *january, policy, "month")
    assert capped.fraction == 1
    year = (at(2025, 1, 1), at(2026, 1, 1))
    assert proration(at(2025, 7, 1), year[1], *year, policy, "year").describe() == "184 of 360 days"


def test_a_rounded_fraction_is_what_the_amount_uses() -> None:
    january = (at(2025, 1, 1), at(2025, 2, 1))
    policy = DEFAULT_POLICY.model_copy(update={"name": "four_places", "fraction_places": 4})
    share = proration(at(2025, 1, 10), january[1], *january, policy, "month")
    assert share.fraction == Decimal("0.7097")
    assert prorate(Decimal("1000.00"), share) == Decimal("709.7000")
    exact = proration(at(2025, 1, 10), january[1], *january, DEFAULT_POLICY, "month")
    assert prorate(Decimal("1000.00"), exact).quantize(Decimal("0.01")) == Decimal("709.68")


def test_naive_and_foreign_zone_times() -> None:
    january = (at(2025, 1, 1), at(2025, 2, 1))
    with pytest.raises(ProrationError, match=r"^start: 2025-01-10T00:00:00 has no timezone"):
        proration(datetime(2025, 1, 10), january[1], *january, DEFAULT_POLICY, "month")  # noqa: DTZ001
    tokyo = timezone(timedelta(hours=9))
    # 10 January 08:00 in Tokyo is still 9 January in UTC.
    share = proration(
        datetime(2025, 1, 10, 8, tzinfo=tokyo), january[1], *january, DEFAULT_POLICY, "month"
    )
    assert share.numerator == 23


def test_pieces_outside_the_period_are_refused() -> None:
    january = (at(2025, 1, 1), at(2025, 2, 1))
    with pytest.raises(ProrationError, match="not inside the billing period"):
        proration(at(2024, 12, 31), january[1], *january, DEFAULT_POLICY, "month")
    with pytest.raises(ProrationError, match="is before start"):
        proration(at(2025, 1, 20), at(2025, 1, 10), *january, DEFAULT_POLICY, "month")


def test_effective_instant_follows_the_policy() -> None:
    change = at(2025, 1, 10, 14, 30)
    assert effective_instant(change, DEFAULT_POLICY) == at(2025, 1, 10)
    assert effective_instant(change, PRESETS["chargebee_like"]) == at(2025, 1, 11)
    assert effective_instant(change.replace(microsecond=5), PRESETS["second"]) == change


def test_presets_are_named_and_serialisable() -> None:
    assert DEFAULT_POLICY is PRESETS["daily"]
    for name, policy in PRESETS.items():
        assert policy.name == name
        assert ProrationPolicy.model_validate_json(policy.model_dump_json()) == policy
    with pytest.raises(
        ProrationError, match=r"policy 'weekly' is not a preset \(known: daily, second"
    ):
        policy_named("weekly")
    with pytest.raises(ValidationError):
        ProrationPolicy.model_validate({"name": "x", "granularity": "hour"})
