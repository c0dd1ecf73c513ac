"""The proration knobs that reproduce Kill Bill's and Lago's rules (issue 15).

Each case states the peer's rule and where it is published; the figures are the
peer's arithmetic on that rule, worked by hand in the test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import takewhile

import pytest

from activities.billing.invoicing import (
    Cancelled,
    InvoicedItem,
    InvoiceDraft,
    InvoiceTerms,
    PlanChanged,
    Subscription,
    draft_invoice,
)
from activities.billing.pricebook import SeatPrice
from activities.billing.proration import (
    DEFAULT_POLICY,
    PRESETS,
    ProrationError,
    ProrationPolicy,
    proration,
)
from activities.billing.tax import TaxTreatment
from activities.paths import REPO_ROOT

D = Decimal
TERMS = InvoiceTerms(issue_date=date(2025, 1, 1))
LAGO = PRESETS["lago_calendar"]
KILLBILL = PRESETS["killbill_like"]
PLAN_A = SeatPrice("plan_a", "Plan A", D("100.00"))
PLAN_B = SeatPrice("plan_b", "Plan B", D("200.00"))


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def monthly(plan: SeatPrice, **kwargs: object) -> Subscription:
    return Subscription("EUR", at(2025, 1, 1), "month", plan, 1, **kwargs)  # type: ignore[arg-type]


def lines(draft: InvoiceDraft) -> list[tuple[str, str, Decimal]]:
    return [(line.kind, line.item_code, line.amount) for line in draft.lines]


# Lago, app/services/credit_notes/create_from_termination.rb (getlago/lago-api):
# remaining_duration = next_end_of_period - terminated_at's date, and
# "billed_from -= 1.day if upgrade": a termination's day is used, an upgrade's is not.


def test_lago_termination_counts_its_day_as_used() -> None:
    # €100 a month, calendar billing, terminated on 15 January: 16 of 31 days unused.
    draft = draft_invoice(
        monthly(PLAN_A, period_start=at(2025, 1, 1)),
        [Cancelled(at(2025, 1, 15, 12))],
        terms=TERMS,
        policy=LAGO,
    )
    assert lines(draft) == [("credit", "plan_a", D("-51.61"))]  # 100 × 16/31
    # The product's default gives the day of a change to the new state: 17 days.
    default = draft_invoice(
        monthly(PLAN_A, period_start=at(2025, 1, 1)),
        [Cancelled(at(2025, 1, 15, 12))],
        terms=TERMS,
    )
    assert lines(default) == [("credit", "plan_a", D("-54.84"))]  # 100 × 17/31


def test_lago_termination_at_midnight_still_counts_the_day() -> None:
    draft = draft_invoice(
        monthly(PLAN_A, period_start=at(2025, 1, 1)),
        [Cancelled(at(2025, 1, 15, 0))],
        terms=TERMS,
        policy=LAGO,
    )
    assert draft.lines[0].proration_fraction == (D(16) / D(31)).quantize(D("1e-12"))
    assert draft.lines[0].period_start == at(2025, 1, 16)


def test_lago_upgrade_day_goes_to_the_new_plan() -> None:
    # getlago.com/docs/guide/subscriptions/upgrades-downgrades: an upgrade applies at
    # once, with a credit note for the unused days of the former plan (paid in advance).
    draft = draft_invoice(
        monthly(PLAN_A, period_start=at(2025, 1, 1)),
        [PlanChanged(at(2025, 1, 15), PLAN_B, "month")],
        terms=TERMS,
        policy=LAGO,
    )
    assert lines(draft) == [
        ("credit", "plan_a", D("-54.84")),  # 100 × 17/31 (15–31 January)
        ("charge", "plan_b", D("109.68")),  # 200 × 17/31
    ]


def test_lago_deducts_earlier_credits_from_a_termination_credit() -> None:
    # "if credit notes were already issued on the fee, we have to deduct them from the
    # prorated amount" (create_from_termination.rb): 51.61 - 30.00 credited before.
    invoiced = (InvoicedItem(PLAN_A, 1, D("100.00"), credited=D("30.00")),)
    sub = monthly(PLAN_A, period_start=at(2025, 1, 1), invoiced=invoiced)
    lago = draft_invoice(sub, [Cancelled(at(2025, 1, 15))], terms=TERMS, policy=LAGO)
    assert lines(lago) == [("credit", "plan_a", D("-21.61"))]
    capped = LAGO.model_copy(update={"credit_limit": "cap"})
    cap = draft_invoice(sub, [Cancelled(at(2025, 1, 15))], terms=TERMS, policy=capped)
    assert lines(cap) == [("credit", "plan_a", D("-51.61"))]  # within the 70.00 left


def test_daily_price_decides_upgrade_or_downgrade() -> None:
    # Lago: "An upgrade occurs when the subscription fee of the new plan, calculated on
    # a daily basis, equals or exceeds the subscription fee of the previous plan."
    # €100 a month (3.23/day in January) to €1,000 a year (2.74/day): a downgrade,
    # though the interval is longer, so it waits for the period end with no credit.
    yearly = SeatPrice("plan_a", "Plan A", D("1000.00"))
    change = [PlanChanged(at(2025, 1, 15), yearly, "year")]
    sub = monthly(PLAN_A, period_start=at(2025, 1, 1))
    lago = draft_invoice(sub, change, terms=TERMS, policy=LAGO)
    assert lago.lines == ()
    assert any("takes effect at the renewal" in note for note in lago.notes)
    # Under the interval test a longer interval is always an upgrade, credited at once.
    by_interval = LAGO.model_copy(update={"upgrade_test": "interval"})
    assert draft_invoice(sub, change, terms=TERMS, policy=by_interval).lines != ()


def test_keeping_the_billing_day_on_a_move_to_annual() -> None:
    # anchor_on_change keep: the annual plan is charged pro rata from the change to the
    # next billing day of the month, then whole years from there. (Kill Bill's own rule
    # runs the first annual period to a billing day up to a year away: realign, in
    # tests/billing/test_peer_cases.py.)
    annual = SeatPrice("plan_a", "Plan A", D("365.00"))
    sub = Subscription("USD", at(2025, 1, 1), "month", PLAN_A, 1, period_start=at(2025, 3, 1))
    keep = KILLBILL.model_copy(update={"anchor_on_change": "keep"})
    draft = draft_invoice(
        sub,
        [PlanChanged(at(2025, 3, 15), annual, "year")],
        terms=TERMS,
        policy=keep,
        renew=True,
    )
    assert lines(draft) == [
        ("credit", "plan_a", D("-54.84")),  # 100 × 17/31 of March
        ("charge", "plan_a", D("17.00")),  # 365 × 17/365: 15 March – 1 April
        ("charge", "plan_a", D("365.00")),  # 1 April 2025 – 1 April 2026
    ]
    assert draft.lines[2].period_start == at(2025, 4, 1)
    assert draft.lines[2].period_end == at(2026, 4, 1)
    # Stripe's rule (reset) starts a new year at the change instead.
    reset = draft_invoice(
        sub, [PlanChanged(at(2025, 3, 15), annual, "year")], terms=TERMS, policy=DEFAULT_POLICY
    )
    assert reset.lines[-1].period_start == at(2025, 3, 15)
    assert reset.lines[-1].period_end == at(2026, 3, 15)


def test_a_change_on_the_billing_day_keeps_it_with_a_whole_period() -> None:
    annual = SeatPrice("plan_a", "Plan A", D("365.00"))
    sub = Subscription("USD", at(2025, 1, 1), "month", PLAN_A, 1, period_start=at(2025, 3, 1))
    draft = draft_invoice(
        sub, [PlanChanged(at(2025, 3, 1), annual, "year")], terms=TERMS, policy=KILLBILL
    )
    assert lines(draft) == [("credit", "plan_a", D("-100.00")), ("charge", "plan_a", D("365.00"))]
    assert (draft.lines[1].period_start, draft.lines[1].period_end) == (
        at(2025, 3, 1),
        at(2026, 3, 1),
    )


# Kill Bill, invoice/src/main/java/org/killbill/billing/invoice/generator/InvoiceDateUtils.java
# (killbill/killbill): calculateProRationBeforeFirstBillingPeriod measures a leading piece
# against previousBillingCycleDate = nextBillingCycleDate.minus(billingPeriod), with
# Joda's month arithmetic clamping the day: for a billing day of 31, 28 Feb minus a month
# is 28 Jan (31 days), and 30 Apr minus a month is 30 Mar (31 days).


@pytest.mark.parametrize(
    ("start", "end", "kill_bill", "anchored"),
    [
        # a February piece with billing day 31: 18 of 31 days, not 18 of 28
        (at(2025, 2, 10), at(2025, 2, 28), (18, 31), (18, 28)),
        # an April piece: 30 Mar - 30 Apr is 31 days; the anchored period 31 Mar - 30 Apr 30
        (at(2025, 4, 10), at(2025, 4, 30), (20, 31), (20, 30)),
        # March runs from the clamped 28 Feb either way
        (at(2025, 3, 10), at(2025, 3, 31), (21, 31), (21, 31)),
    ],
)
def test_kill_bill_measures_a_billing_day_past_the_months_end_back_from_the_renewal(
    start: datetime, end: datetime, kill_bill: tuple[int, int], anchored: tuple[int, int]
) -> None:
    anchor = at(2025, 1, 31)
    from activities.billing.proration import shift_months_back

    period = (shift_months_back(anchor, "month", end), end)
    share = proration(start, end, *period, KILLBILL, "month")
    assert (share.numerator, share.denominator) == kill_bill
    share = proration(start, end, *period, DEFAULT_POLICY, "month")
    assert (share.numerator, share.denominator) == anchored
    # a whole period is 1 under both rules
    assert proration(*period, *period, KILLBILL, "month").fraction == 1


def test_kill_bill_upgrade_on_a_billing_day_31_schedule() -> None:
    # Plan A (100) to Plan B (200) on 10 April, billing day 31: both pieces over 31 days.
    sub = Subscription("USD", at(2025, 1, 31), "month", PLAN_A, 1, period_start=at(2025, 3, 31))
    draft = draft_invoice(
        sub, [PlanChanged(at(2025, 4, 10), PLAN_B, "month")], terms=TERMS, policy=KILLBILL
    )
    assert lines(draft) == [
        ("credit", "plan_a", D("-64.52")),  # 100 × 20/31
        ("charge", "plan_b", D("129.03")),  # 200 × 20/31
    ]
    anchored = KILLBILL.model_copy(update={"period_length": "anchored"})
    draft = draft_invoice(
        sub, [PlanChanged(at(2025, 4, 10), PLAN_B, "month")], terms=TERMS, policy=anchored
    )
    assert lines(draft) == [("credit", "plan_a", D("-66.67")), ("charge", "plan_b", D("133.33"))]


STRICT_30_360 = ProrationPolicy(name="strict", denominator="thirty_360")
ACTUAL_OVER_30 = ProrationPolicy(name="actual_over_30", denominator="fixed_30_day_month")


@pytest.mark.parametrize(
    ("start", "end", "strict", "actual_over_30"),
    [
        # 23 May to 15 June: every month 30 days gives 8 + 14 = 22, actual days 23.
        (at(2025, 5, 23), at(2025, 6, 15), 22, 23),
        # the 31st counts as the 30th: 1 to 31 July is 29 days, not 30.
        (at(2025, 7, 1), at(2025, 7, 31), 29, 30),
        # February counts as 30 days: 15 February to 15 March is a whole month.
        (at(2025, 2, 15), at(2025, 3, 15), 30, 28),
    ],
)
def test_strict_30_360_counts_every_month_as_30_days(
    start: datetime, end: datetime, strict: int, actual_over_30: int
) -> None:
    period = (at(2025, 1, 15), at(2026, 1, 15))
    assert proration(start, end, *period, STRICT_30_360, "year").numerator == strict
    assert proration(start, end, *period, ACTUAL_OVER_30, "year").numerator == actual_over_30
    assert proration(start, end, *period, STRICT_30_360, "year").denominator == 360


def test_strict_30_360_needs_whole_days() -> None:
    policy = ProrationPolicy(name="x", granularity="second", denominator="thirty_360")
    with pytest.raises(ProrationError, match="thirty_360"):
        proration(
            at(2025, 5, 23), at(2025, 6, 15), at(2025, 5, 15), at(2025, 6, 15), policy, "month"
        )


def test_every_preset_is_a_named_documented_policy() -> None:
    for name, policy in PRESETS.items():
        assert policy.name == name


#: How docs/invoicing.md's knob × preset table writes a value; others read as written
#: with spaces for underscores.
_AS_DOCUMENTED = {
    "change_day_to_new_state": "new state",
    "change_day_to_old_state": "old state",
    "actual_period": "actual",
    "fixed_30_day_month": "30-day month",
    "above_high_water_mark": "high-water mark",
    "at_period_end": "period end",
}


def _documented(knob: str, value: object) -> str:
    if value is None:
        if knob == "seat_removal_day":
            return "(seat_change_day)"
        return "exact" if knob == "fraction_places" else "(day_counting)"
    return _AS_DOCUMENTED.get(str(value), str(value).replace("_", " "))


def test_the_knob_table_in_the_docs_is_every_preset_knob_for_knob() -> None:
    """docs/invoicing.md's table is what an analyst reads to pick a preset: every knob of
    the policy has its row, and every cell is the preset's value."""
    lines = (REPO_ROOT / "docs" / "invoicing.md").read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("| knob |"))
    table = list(takewhile(lambda line: line.startswith("|"), lines[start:]))
    header, *body = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    presets = [cell.split(" / ") for cell in header[1:]]
    rows = {cells[0]: cells[1:] for cells in body[1:]}  # body[0] is the |---| line
    knobs = [name for name in ProrationPolicy.model_fields if name != "name"]
    assert sorted(rows) == sorted(knobs)
    for knob in knobs:
        for names, cell in zip(presets, rows[knob], strict=True):
            for name in names:
                assert cell == _documented(knob, getattr(PRESETS[name], knob)), (knob, name)


def test_a_trial_bills_nothing_until_it_ends() -> None:
    # Lago and Stripe: a plan's trial period is free; billing starts at the trial's end,
    # for what the subscription then has (here 3 seats: 2 at the start, 1 added in the trial).
    from activities.billing.invoicing import SeatsAdded, Started

    sub = Subscription("EUR", at(2025, 1, 1), "month", PLAN_A, 2, trial_end=at(2025, 1, 15))
    draft = draft_invoice(
        sub, [Started(at(2025, 1, 1)), SeatsAdded(at(2025, 1, 5), 1)], terms=TERMS
    )
    assert lines(draft) == [("charge", "plan_a", D("164.52"))]  # 3 × 100 × 17/31
    assert draft.lines[0].period_start == at(2025, 1, 15)
    assert "Free trial until 15 Jan 2025." in draft.notes


def test_a_trial_longer_than_the_first_period_bills_from_its_end() -> None:
    from activities.billing.invoicing import Started

    sub = Subscription("EUR", at(2025, 1, 1), "month", PLAN_A, 1, trial_end=at(2025, 2, 10))
    draft = draft_invoice(sub, [Started(at(2025, 1, 20))], terms=TERMS)
    assert lines(draft) == [("charge", "plan_a", D("67.86"))]  # 100 × 19/28 of February
    assert draft.lines[0].period_start == at(2025, 2, 10)


def test_a_commitment_is_prorated_for_the_active_part_of_its_period() -> None:
    # Lago prorates a minimum commitment when the subscription starts (or ends) inside the
    # commitment period: 1,000 committed for January, active from the 15th: 17/31.
    from activities.billing.invoicing import Commitment

    sub = monthly(PLAN_A, period_start=at(2025, 1, 1))
    commitment = Commitment(
        D("1000.00"), at(2025, 1, 1), at(2025, 2, 1), active_from=at(2025, 1, 15)
    )
    draft = draft_invoice(sub, [], terms=TERMS, commitment=commitment)
    assert lines(draft) == [("charge", "minimum_commitment", D("548.39"))]  # 1000 × 17/31
    assert "prorated, 17 of 31 days" in draft.lines[0].description


# Lago, app/services/credit_notes/create_from_termination.rb (getlago/lago-api), with
# on_termination_credit_note "refund": the unused time (tax included) is refunded up to
# what was paid less the used time (calculate_refund: paid_amount_prorated_to_subscription
# - creditable_used_amount), and the rest of it is credited to the customer's balance.
VAT_20 = TaxTreatment(D("0.20"), "VAT 20%")
LAGO_REFUND = LAGO.model_copy(update={"name": "lago_refund", "cancellation": "refund"})


@pytest.mark.parametrize(
    ("paid", "refund", "credit"),
    [
        # paid in full: 120 - (48.39 used + 9.68 VAT) = 61.93, all of the 61.93 unused
        (D("120.00"), D("61.93"), D("0.00")),
        # paid 60: only 60 - 58.07 = 1.93 is refundable; the rest of the unused is credit
        (D("60.00"), D("1.93"), D("60.00")),
        # nothing paid: nothing refunded, the unused time is account credit
        (D("0.00"), D("0.00"), D("61.93")),
        # not given: the period counts as paid, as before
        (None, D("61.93"), D("0.00")),
    ],
)
def test_lago_splits_a_termination_credit_into_refund_and_account_credit(
    paid: Decimal | None, refund: Decimal, credit: Decimal
) -> None:
    # 100 a month with 20 % VAT, terminated on 15 January: 16 of 31 days unused (51.61 net).
    sub = monthly(PLAN_A, period_start=at(2025, 1, 1), amount_paid=paid)
    terms = InvoiceTerms(issue_date=date(2025, 1, 15), tax=VAT_20)
    draft = draft_invoice(sub, [Cancelled(at(2025, 1, 15, 10))], terms=terms, policy=LAGO_REFUND)
    assert lines(draft) == [("credit", "plan_a", D("-51.61"))]
    assert draft.total == D("-61.93")
    assert (draft.refund_due, draft.credit_to_balance) == (refund, credit)
    assert draft.refund_due + draft.credit_to_balance == -draft.total


def test_amount_paid_does_not_refund_under_an_account_credit_policy() -> None:
    sub = monthly(PLAN_A, period_start=at(2025, 1, 1), amount_paid=D("100.00"))
    draft = draft_invoice(sub, [Cancelled(at(2025, 1, 15, 10))], terms=TERMS, policy=LAGO)
    assert (draft.refund_due, draft.credit_to_balance) == (D("0.00"), D("51.61"))


def test_amount_paid_must_be_a_currency_amount() -> None:
    from activities.billing.invoicing import InvoicingError

    sub = monthly(PLAN_A, period_start=at(2025, 1, 1), amount_paid=D("-1"))
    with pytest.raises(InvoicingError, match="amount_paid"):
        draft_invoice(sub, [Cancelled(at(2025, 1, 15))], terms=TERMS, policy=LAGO_REFUND)


# Weekly plans: Lago's plan interval "weekly" (getlago.com/docs/guide/plans, plan
# interval: weekly, monthly, quarterly, yearly) and Stripe's recurring interval "week"
# bill 7-day periods; a first partial week is prorated by the day, over 7 days.
WEEKLY = SeatPrice("plan_w", "Plan W", D("70.00"))
MONDAY = at(2025, 1, 6)


def test_a_weekly_plan_prorates_its_first_week_and_renews_every_seven_days() -> None:
    sub = Subscription("EUR", MONDAY, "week", WEEKLY, 1)
    from activities.billing.invoicing import Started

    draft = draft_invoice(sub, [Started(at(2025, 1, 8))], terms=TERMS, renew=True)
    assert lines(draft) == [("charge", "plan_w", D("50.00")), ("charge", "plan_w", D("70.00"))]
    first, renewal = draft.lines
    assert (first.period_start, first.period_end) == (at(2025, 1, 8), at(2025, 1, 13))
    assert "(5 of 7 days)" in first.description and "Plan W (weekly)" in first.description
    assert (renewal.period_start, renewal.period_end) == (at(2025, 1, 13), at(2025, 1, 20))


def test_seats_added_mid_week_are_charged_for_the_rest_of_the_week() -> None:
    sub = Subscription("EUR", MONDAY, "week", WEEKLY, 2, period_start=at(2025, 1, 13))
    from activities.billing.invoicing import SeatsAdded

    draft = draft_invoice(
        sub, [SeatsAdded(at(2025, 1, 17), 3)], terms=TERMS, policy=PRESETS["chargebee_like"]
    )
    assert lines(draft) == [("charge", "plan_w", D("90.00"))]  # 3 × 70 × 3/7 (Fri–Sun)


def test_a_move_from_weekly_to_monthly_restarts_the_period_at_the_change() -> None:
    sub = Subscription("EUR", MONDAY, "week", WEEKLY, 1, period_start=at(2025, 1, 13))
    monthly_plan = SeatPrice("plan_m", "Plan M", D("280.00"))
    draft = draft_invoice(
        sub,
        [PlanChanged(at(2025, 1, 16), monthly_plan, "month")],
        terms=TERMS,
        policy=PRESETS["stripe_like"],
    )
    assert lines(draft) == [("credit", "plan_w", D("-40.00")), ("charge", "plan_m", D("280.00"))]
    assert (draft.lines[1].period_start, draft.lines[1].period_end) == (
        at(2025, 1, 16),
        at(2025, 2, 16),
    )


def test_weekly_billing_refuses_rules_made_for_months() -> None:
    from activities.billing.invoicing import InvoicingError, SeatsAdded

    sub = Subscription("EUR", MONDAY, "week", WEEKLY, 1, period_start=at(2025, 1, 13))
    with pytest.raises(InvoicingError, match="anchor_on_change"):
        draft_invoice(
            sub,
            [PlanChanged(at(2025, 1, 16), SeatPrice("plan_m", "M", D("280")), "month")],
            terms=TERMS,
            policy=KILLBILL,
        )
    with pytest.raises(ProrationError, match="denominator"):
        draft_invoice(
            sub, [SeatsAdded(at(2025, 1, 16), 1)], terms=TERMS, policy=PRESETS["zuora_30_day"]
        )


# Lago's own figures for a termination's day: spec/services/credit_notes/
# create_from_termination_spec.rb (getlago/lago-api). A €31.00 monthly plan paid in
# advance, 20 % tax, billed on the calendar from 1 September 2022 and terminated on
# 15 October 2022 at 10:00 UTC. remaining_duration counts from the end of the
# termination's day (billed_from = terminated_at.end_of_day), so 15 October is used and
# 16 days (16 – 31 October) are credited: "creates a credit note", total 19_20 with
# tax 3_20. "when existing credit notes on the fee" (€10.00 credited before): 7_20 with
# tax 1_20. "when plan has been upgraded" (billed_from -= 1.day): 17 days, 20_40 with
# tax 3_40: an upgrade's day goes to the new plan.
LAGO_PLAN = SeatPrice("lago_plan", "Lago plan", D("31.00"))
LAGO_TERMS = InvoiceTerms(issue_date=date(2022, 10, 15), tax=VAT_20)
LAGO_TERMINATED = datetime(2022, 10, 15, 10, tzinfo=UTC)


def lago_calendar_sub(**kwargs: object) -> Subscription:
    start = at(2022, 10, 1)
    return Subscription("EUR", at(2022, 9, 1), "month", LAGO_PLAN, 1, period_start=start, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("preset", ["lago_calendar", "lago_anniversary"])
def test_lago_spec_termination_day_is_used(preset: str) -> None:
    policy = PRESETS[preset]
    draft = draft_invoice(
        lago_calendar_sub(), [Cancelled(LAGO_TERMINATED)], terms=LAGO_TERMS, policy=policy
    )
    assert lines(draft) == [("credit", "lago_plan", D("-16.00"))]
    assert (draft.tax_total, draft.total) == (D("-3.20"), D("-19.20"))
    assert draft.lines[0].period_start == at(2022, 10, 16)
    # The product's default gives the termination's day to the new state: 17 days.
    default = draft_invoice(lago_calendar_sub(), [Cancelled(LAGO_TERMINATED)], terms=LAGO_TERMS)
    assert default.total == D("-20.40")


@pytest.mark.parametrize("preset", ["lago_calendar", "lago_anniversary"])
def test_lago_spec_termination_less_an_earlier_credit_note(preset: str) -> None:
    invoiced = (InvoicedItem(LAGO_PLAN, 1, D("31.00"), credited=D("10.00")),)
    draft = draft_invoice(
        lago_calendar_sub(invoiced=invoiced),
        [Cancelled(LAGO_TERMINATED)],
        terms=LAGO_TERMS,
        policy=PRESETS[preset],
    )
    assert lines(draft) == [("credit", "lago_plan", D("-6.00"))]
    assert (draft.tax_total, draft.total) == (D("-1.20"), D("-7.20"))


@pytest.mark.parametrize("preset", ["lago_calendar", "lago_anniversary"])
def test_lago_spec_upgrade_day_goes_to_the_new_plan(preset: str) -> None:
    dearer = SeatPrice("lago_plan_b", "Lago plan B", D("62.00"))
    draft = draft_invoice(
        lago_calendar_sub(),
        [PlanChanged(LAGO_TERMINATED, dearer, "month")],
        terms=LAGO_TERMS,
        policy=PRESETS[preset],
    )
    credit = draft.lines[0]
    assert (credit.kind, credit.amount, credit.tax_amount) == ("credit", D("-17.00"), D("-3.40"))
    assert credit.period_start == at(2022, 10, 15)


def test_lago_spec_anniversary_termination_counts_the_same_days() -> None:
    # The spec's "with rounding at max precision": €9.99 a month, anniversary billing from
    # 30 January 2023, terminated on 14 March 2023 at 10:00: the period is 28 February to
    # 30 March (30 days) and 15 of them are credited. Lago's item is 4_99 because its day
    # price is a float (999 / 30.0 * 15 = 499.4999...); exact, by the one rounding rule,
    # half of 9.99 is 5.00. The days are Lago's; the cent is the product's rounding.
    plan = SeatPrice("lago_plan", "Lago plan", D("9.99"))
    sub = Subscription("EUR", at(2023, 1, 30), "month", plan, 1, period_start=at(2023, 2, 28))
    draft = draft_invoice(
        sub,
        [Cancelled(datetime(2023, 3, 14, 10, tzinfo=UTC))],
        terms=TERMS,
        policy=PRESETS["lago_anniversary"],
    )
    line = draft.lines[0]
    assert (line.period_start, line.period_end) == (at(2023, 3, 15), at(2023, 3, 30))
    assert line.proration_fraction == D("0.500000000000")
    assert line.amount == D("-5.00")
