"""A change of billing interval and its reversal at the same instant change nothing, under
every policy (issue 15's property "a change and its reversal on the same instant net to
zero", for the change of interval the ledger now records: tests/recurring/test_interval_change.py).

Before the engine remembered what a change of interval replaced, the change back was
priced against the new interval's prices: a downgrade scheduled for the renewal under
``daily``, a year billed at the monthly price under ``stripe_like``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from activities.billing.invoicing import (
    Event,
    Paused,
    PlanChanged,
    Resumed,
    SeatsAdded,
    SeatsRemoved,
)
from activities.billing.pricebook import SeatPrice
from activities.billing.proration import Interval
from tests.billing.test_properties import (
    SLOW_OK,
    Scenario,
    instants,
    money,
    period_of,
    priced,
    scenarios,
)

#: Nominal days, as the engine tells a longer interval from a shorter one.
_DAYS = {"week": 7, "month": 30, "quarter": 90, "year": 360}


@settings(max_examples=300, suppress_health_check=SLOW_OK)
@given(scenario=scenarios(), data=st.data())
def test_a_change_of_interval_and_its_reversal_at_one_instant_change_nothing(
    scenario: Scenario, data: st.DataObject
) -> None:
    sub = scenario.subscription
    # The scenario's changes that leave the plan, its add-ons and the interval alone.
    kept: list[Event] = [
        event
        for event in scenario.events
        if isinstance(event, SeatsAdded | SeatsRemoved | Paused | Resumed)
    ]
    start, end = period_of(sub.anchor, sub.interval, sub.interval_count)
    last = max((event.at for event in kept), default=start)
    at = data.draw(instants(last, end)) if last < end else last
    length = _DAYS[sub.interval] * sub.interval_count
    choices: list[Interval] = [i for i in ("month", "quarter", "year") if _DAYS[i] != length]
    interval = data.draw(st.sampled_from(choices))
    currency = sub.currency

    def priced_in_new_interval(price: SeatPrice) -> SeatPrice:
        amount = money(currency, data.draw(st.integers(1, 10_000_000)))
        return SeatPrice(price.code, price.name, amount, price.in_arrears)

    there = PlanChanged(
        at,
        priced_in_new_interval(sub.plan),
        interval,
        tuple(priced_in_new_interval(addon) for addon in sub.addons),
    )
    back = PlanChanged(at, sub.plan, sub.interval, sub.addons, sub.interval_count)
    without = Scenario(sub, kept, scenario.policy, scenario.terms)
    with_pair = Scenario(sub, [*kept, there, back], scenario.policy, scenario.terms)
    assert priced(with_pair, renew=True) == priced(without, renew=True)
