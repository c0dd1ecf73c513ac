"""Invoice drafts: the events the engine prices, checked against published examples."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from activities.billing.invoicing import (
    AddonAdded,
    AddonRemoved,
    Cancelled,
    Commitment,
    Discount,
    Event,
    InvoicedItem,
    InvoiceDraft,
    InvoiceTerms,
    InvoicingError,
    Paused,
    PlanChanged,
    QuarterlyTrueUp,
    Resumed,
    SeatsAdded,
    SeatsRemoved,
    Started,
    Subscription,
    draft_invoice,
)
from activities.billing.pricebook import SeatPrice, load_pricebook
from activities.billing.proration import DEFAULT_POLICY, PRESETS, Interval, ProrationPolicy
from activities.billing.tax import load_tax_table, tax_treatment
from activities.billing.usage import UsageCharge, UsagePrice

D = Decimal
TERMS = InvoiceTerms(issue_date=date(2025, 1, 1))
STRIPE = PRESETS["stripe_like"]
CHARGEBEE = PRESETS["chargebee_like"]


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def price(code: str, amount: str, name: str | None = None) -> SeatPrice:
    return SeatPrice(code, name or code.capitalize(), D(amount))


def subscription(
    plan: SeatPrice,
    seats: int = 1,
    *,
    anchor: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    interval: Interval = "month",
    currency: str = "USD",
    addons: tuple[SeatPrice, ...] = (),
    period_start: datetime | None = None,
    invoiced: tuple[InvoicedItem, ...] | None = None,
    quarterly_true_up: bool = False,
) -> Subscription:
    return Subscription(
        currency,
        anchor,
        interval,
        plan,
        seats,
        addons,
        period_start=period_start,
        invoiced=invoiced,
        quarterly_true_up=quarterly_true_up,
    )


def amounts(draft: InvoiceDraft) -> list[tuple[str, str, Decimal]]:
    return [(line.kind, line.item_code, line.amount) for line in draft.lines]


def draft(
    sub: Subscription,
    events: Sequence[Event],
    policy: ProrationPolicy = DEFAULT_POLICY,
    *,
    terms: InvoiceTerms = TERMS,
    renew: bool = False,
    usage: Sequence[UsageCharge] = (),
) -> InvoiceDraft:
    return draft_invoice(sub, events, terms=terms, policy=policy, renew=renew, usage=usage)


# --- Published examples ------------------------------------------------------------------


def test_stripe_upgrade_halfway_through_the_period() -> None:
    """Stripe, "Prorations": upgrading from a 10 USD to a 20 USD monthly plan halfway
    through the period credits 5 USD of unused time and charges 10 USD for the
    remaining time: 5 USD more. https://docs.stripe.com/billing/subscriptions/prorations
    """
    april = subscription(price("basic", "10.00"), anchor=at(2025, 4, 1))
    result = draft(april, [PlanChanged(at(2025, 4, 16), price("pro", "20.00"), "month")], STRIPE)
    assert amounts(result) == [("credit", "basic", D("-5.00")), ("charge", "pro", D("10.00"))]
    assert result.total == D("5.00")
    assert result.lines[0].description == (
        "Unused time on 1 × Basic (monthly), 16 Apr 2025 – 1 May 2025 (15.00 of 30 days)"
    )


@pytest.mark.parametrize(
    ("start", "expected", "fraction"),
    [(at(2025, 2, 15), D("5.00"), D("0.5")), (at(2025, 1, 15), D("5.48"), D("0.548387096774"))],
)
def test_stripe_partial_first_period(start: datetime, expected: Decimal, fraction: Decimal) -> None:
    """Stripe, "Backdate subscriptions": monthly on the first of the month, a start on
    February 15 (non-leap year) is 14 of 28 days, exactly half a month; a start on
    January 15 is 17 of 31 days, 0.548 of a month.
    https://stripe.com/docs/billing/subscriptions/backdating
    """
    result = draft(subscription(price("pro", "10.00")), [Started(start)], STRIPE)
    (line,) = result.lines
    assert (line.amount, line.proration_fraction) == (expected, fraction)
    assert line.period_end.day == 1


def test_stripe_no_proration_makes_the_first_partial_period_free() -> None:
    """Stripe, "Set the billing cycle date": a monthly subscription created on May 15
    with an anchor on June 1 is billed on May 15, then on the 1st; with
    proration_behavior=none the initial period up to the first full invoice is free.
    https://stripe.com/docs/payments/checkout/billing-cycle
    """
    anchored = subscription(price("pro", "31.00"), anchor=at(2025, 6, 1))
    prorated = draft(anchored, [Started(at(2025, 5, 15))], STRIPE)
    assert amounts(prorated) == [("charge", "pro", D("17.00"))]  # 17 of 31 May days
    free = draft(anchored, [Started(at(2025, 5, 15))], PRESETS["none"], renew=True)
    assert amounts(free) == [("charge", "pro", D("31.00"))]
    assert free.lines[0].period_start == at(2025, 6, 1)


def test_actual_day_partial_period_from_financialforce() -> None:
    """FinancialForce Billing Central, "Calculating Actual Day Proration", example 2:
    a charge period running from the 25th, a line starting on 2 August is 2-24 August,
    23 of the 31 days from 25 July: $930 x 23/31 = $690.
    https://help.financialforce.com/main/2023.2/Content/BillingCentral/Features/Proration/CalculatingActualDayProration.htm
    """
    result = draft(
        subscription(price("service", "930.00"), anchor=at(2017, 7, 25)), [Started(at(2017, 8, 2))]
    )
    (line,) = result.lines
    assert line.amount == D("690.00")
    assert line.description.endswith("2 Aug 2017 – 25 Aug 2017 (23 of 31 days)")


def test_chargebee_downgrade_credits_the_difference() -> None:
    """Chargebee, "Proration" (legacy docs), example 1: a $60/month plan for 1 April to
    1 May, downgraded on 21 April to $30/month: 20 days used, $20 unused, $10 for the
    remaining 10 days on the new plan: a $10 credit.
    https://www.chargebee.com/docs/proration-old.html
    """
    april = subscription(price("premium", "60.00"), anchor=at(2012, 4, 1))
    result = draft(
        april, [PlanChanged(at(2012, 4, 21), price("basic", "30.00"), "month")], CHARGEBEE
    )
    assert amounts(result) == [("credit", "premium", D("-20.00")), ("charge", "basic", D("10.00"))]
    assert (result.total, result.amount_due, result.credit_to_balance) == (
        D("-10.00"),
        D(0),
        D("10.00"),
    )


def test_chargebee_quantity_decrease() -> None:
    """Chargebee, "Proration" (legacy docs), example 2: 3 units at $30 for 1 April to
    1 May, reduced to 2 on 10 April after 10 days of use: the unused $60 less $40 for
    2 units over the remaining 20 days is a $20 credit. (The day of the change counts
    as used: a change during the day under day counting ``half_open``.)
    https://www.chargebee.com/docs/proration-old.html
    """
    april = subscription(price("plan", "30.00"), 3, anchor=at(2013, 4, 1))
    result = draft(april, [SeatsRemoved(at(2013, 4, 10, 11), 1)], CHARGEBEE)
    assert amounts(result) == [("credit", "plan", D("-20.00"))]
    assert "(20 of 30 days)" in result.lines[0].description


@pytest.mark.parametrize(
    ("policy", "expected"), [(PRESETS["zuora_30_day"], D("16.33")), (STRIPE, D("15.81"))]
)
def test_zuora_partial_month_30_days_or_actual(policy: ProrationPolicy, expected: Decimal) -> None:
    """Zuora, order metrics example (part 3): 7 more units at $5.00 from 8/18/2018 to the
    month end: (14 / 30 days) x $35 = 16.33 with 30-day months, (14 / 31 days) x $35 =
    15.81 with actual days.
    https://docs.zuora.com/en/zuora-billing/manage-accounts-subscriptions-and-non-subscriptions/manage-subscription-transactions/orders/order-delta-metrics-and-order-metrics/order-metrics/part-3---example
    """
    august = subscription(price("widget", "5.00"), 13, anchor=at(2018, 1, 1))
    result = draft(august, [SeatsAdded(at(2018, 8, 18), 7)], policy)
    assert amounts(result) == [("charge", "widget", expected)]


def test_gitlab_quarterly_reconciliation() -> None:
    """GitLab, "Quarterly reconciliation and annual true-ups": an annual licence for 100
    users at $100 per seat a year. Q1 peaks at 110 users: 10 x $25 x 3 remaining
    quarters = $750. Q2 peaks at 105: nothing. Q3 peaks at 120: 10 x $25 x 1 = $250.
    Q4: nothing. https://docs.gitlab.com/ee/subscriptions/quarterly_reconciliation.html
    """
    licence = subscription(
        price("premium", "100.00"),
        100,
        interval="year",
        quarterly_true_up=True,
        invoiced=(InvoicedItem(price("premium", "100.00"), 100, D("10000.00")),),
    )
    events: list[Event] = [
        SeatsAdded(at(2025, 2, 3), 10),
        QuarterlyTrueUp(at(2025, 4, 1)),
        SeatsRemoved(at(2025, 5, 5), 5),
        QuarterlyTrueUp(at(2025, 7, 1)),
        SeatsAdded(at(2025, 8, 1), 15),
        QuarterlyTrueUp(at(2025, 10, 1)),
        QuarterlyTrueUp(at(2026, 1, 1)),
    ]
    result = draft(licence, events)
    assert amounts(result) == [
        ("charge", "premium", D("750.00")),
        ("charge", "premium", D("250.00")),
    ]
    assert result.subtotal == D("1000.00")
    assert result.lines[0].description.startswith("Quarterly true-up: 10 seats above the 100 paid")
    assert "(3 of 4 quarters)" in result.lines[0].description
    # A seat count measured elsewhere can raise the peak.
    measured = draft(licence, [QuarterlyTrueUp(at(2025, 7, 1), peak_seats=104)])
    assert amounts(measured) == [("charge", "premium", D("200.00"))]


@pytest.mark.parametrize(("usage", "true_up"), [(800, D("200.00")), (1300, None)])
def test_lago_minimum_commitment(usage: int, true_up: Decimal | None) -> None:
    """Lago, "Negotiated contract billing": a $1,000 monthly minimum; $800 of eligible
    usage adds a $200 true-up, $1,300 adds none.
    https://getlago.com/docs/guide/lago-cloud/contract-billing.md
    """
    month = (at(2025, 1, 1), at(2025, 2, 1))
    metered = UsageCharge(
        "events", "Events", "event", *month, D(usage), UsagePrice("per_unit", unit_amount=D("1"))
    )
    result = draft_invoice(
        subscription(price("platform", "0.01"), period_start=month[0]),
        [],
        terms=InvoiceTerms(date(2025, 2, 1)),
        usage=[metered],
        commitment=Commitment(D("1000.00"), *month, item_codes=frozenset({"events"})),
    )
    trued = [line.amount for line in result.lines if line.item_code == "minimum_commitment"]
    assert trued == ([] if true_up is None else [true_up])
    assert result.subtotal == max(D(usage), D("1000"))


# --- The product's own rules, event by event ------------------------------------------------

BUSINESS = price("business", "25.00", "Business")
SECURITY = price("advanced_security", "6.00", "Advanced Security")
JANUARY = at(2025, 1, 1)


def january(
    seats: int = 20,
    *,
    addons: tuple[SeatPrice, ...] = (SECURITY,),
    period_start: datetime | None = JANUARY,
    invoiced: tuple[InvoicedItem, ...] | None = None,
) -> Subscription:
    """Business with Advanced Security, monthly on the 1st, in January 2025 (31 days)."""
    return subscription(
        BUSINESS, seats, addons=addons, period_start=period_start, invoiced=invoiced
    )


def test_new_subscription_bills_the_first_partial_period_to_the_anchor() -> None:
    result = draft(january(10, period_start=None), [Started(at(2025, 1, 15, 10))], renew=True)
    assert amounts(result) == [
        ("charge", "business", D("137.10")),  # 10 x 25 x 17/31
        ("charge", "advanced_security", D("32.90")),  # 10 x 6 x 17/31
        ("charge", "business", D("250.00")),
        ("charge", "advanced_security", D("60.00")),
    ]
    assert result.lines[0].description == (
        "10 × Business (monthly), 15 Jan 2025 – 1 Feb 2025 (17 of 31 days)"
    )
    assert result.lines[2].description == "10 × Business (monthly), 1 Feb 2025 – 1 Mar 2025"
    assert (result.period_start, result.period_end) == (at(2025, 1, 15, 10), at(2025, 3, 1))


def test_seats_above_the_high_water_mark() -> None:
    """The default policy: seats given back are kept until renewal, re-adding them is free."""
    events: list[Event] = [
        SeatsAdded(at(2025, 1, 10, 14), 5),
        SeatsRemoved(at(2025, 1, 20), 3),
        SeatsAdded(at(2025, 1, 24, 9), 4),
    ]
    result = draft(january(), events)
    assert amounts(result) == [
        ("charge", "business", D("88.71")),
        ("charge", "advanced_security", D("21.29")),
        ("charge", "business", D("6.45")),  # only 26 - 25
        ("charge", "advanced_security", D("1.55")),
    ]
    stripe = draft(january(), events, STRIPE)
    assert amounts(stripe) == [
        ("charge", "business", D("86.36")),  # 5 x 25 x 21 d 10 h / 31 d
        ("charge", "advanced_security", D("20.73")),
        ("credit", "business", D("-29.03")),  # 3 x 25 x 12 / 31, credited at once
        ("credit", "advanced_security", D("-6.97")),
        ("charge", "business", D("24.60")),  # 4 x 25 x 7 d 15 h / 31 d
        ("charge", "advanced_security", D("5.90")),
    ]


def test_prorate_added_with_decreases_at_period_end_bills_re_added_seats_again() -> None:
    policy = DEFAULT_POLICY.model_copy(update={"name": "p", "seat_increase": "prorate_added"})
    events: list[Event] = [SeatsRemoved(at(2025, 1, 20), 3), SeatsAdded(at(2025, 1, 24), 4)]
    result = draft(subscription(BUSINESS, 20, period_start=JANUARY), events, policy)
    assert amounts(result) == [("charge", "business", D("25.81"))]  # 4 x 25 x 8/31


def test_credits_never_exceed_what_was_billed() -> None:
    billed = (InvoicedItem(BUSINESS, 20, D("100.00"), D("30.00")),)
    sub = subscription(BUSINESS, 20, period_start=JANUARY, invoiced=billed)
    result = draft(sub, [SeatsRemoved(at(2025, 1, 5), 10)], STRIPE)
    (line,) = result.lines
    assert line.amount == D("-70.00")
    assert line.description.endswith("limited to the 70.00 billed and not yet credited")
    assert draft(
        sub, [SeatsRemoved(at(2025, 1, 5), 10), Cancelled(at(2025, 1, 6))], STRIPE
    ).subtotal == D("-70.00")


def test_upgrade_applies_now_and_downgrade_waits_for_renewal_by_default() -> None:
    enterprise = price("enterprise", "45.00", "Enterprise")
    plus = price("plus", "12.00", "Plus")
    up = draft(january(10, addons=()), [PlanChanged(at(2025, 1, 22), enterprise, "month")])
    assert amounts(up) == [
        ("credit", "business", D("-80.65")),
        ("charge", "enterprise", D("145.16")),
    ]
    down = draft(january(10, addons=()), [PlanChanged(at(2025, 1, 22), plus, "month")], renew=True)
    assert amounts(down) == [("charge", "plus", D("120.00"))]
    assert down.notes == ("Change to Plus (monthly) takes effect at the renewal on 1 Feb 2025.",)
    # An upgrade later in the period cancels the scheduled downgrade.
    both = draft(
        january(10, addons=()),
        [
            PlanChanged(at(2025, 1, 10), plus, "month"),
            PlanChanged(at(2025, 1, 22), enterprise, "month"),
        ],
        renew=True,
    )
    assert [line.item_code for line in both.lines] == ["business", "enterprise", "enterprise"]
    crediting = draft(january(10, addons=()), [PlanChanged(at(2025, 1, 22), plus, "month")], STRIPE)
    assert [line.kind for line in crediting.lines] == ["credit", "charge"]


def test_upgrade_keeps_seats_paid_but_not_credited() -> None:
    enterprise = price("enterprise", "45.00", "Enterprise")
    events: list[Event] = [
        SeatsRemoved(at(2025, 1, 5), 4),
        PlanChanged(at(2025, 1, 22), enterprise, "month"),
    ]
    result = draft(january(10, addons=()), events)
    assert [line.quantity for line in result.lines] == [10, 10]


def test_monthly_to_annual_restarts_the_period() -> None:
    annual_business = price("business", "250.00", "Business")
    annual_security = price("advanced_security", "60.00", "Advanced Security")
    change = PlanChanged(at(2025, 1, 22, 15), annual_business, "year", (annual_security,))
    result = draft(january(10), [change], renew=True)
    assert amounts(result) == [
        ("credit", "business", D("-80.65")),  # 22..31 Jan: 10 of 31 days
        ("credit", "advanced_security", D("-19.35")),
        ("charge", "business", D("2500.00")),
        ("charge", "advanced_security", D("600.00")),
        ("charge", "business", D("2500.00")),  # the renewal, a year later
        ("charge", "advanced_security", D("600.00")),
    ]
    assert result.lines[2].period_start == at(2025, 1, 22)
    assert result.lines[4].period_start == at(2026, 1, 22)
    assert result.notes == ("Billing period restarted on 22 Jan 2025 for annual billing.",)
    with pytest.raises(InvoicingError, match=r"events\[0\].addons: give the add-ons' prices"):
        draft(january(10), [PlanChanged(at(2025, 1, 22), annual_business, "year")])


def test_cancellation_credit_or_refund() -> None:
    cancel = [Cancelled(at(2025, 1, 11))]
    to_account = draft(january(10), cancel, renew=True)
    assert amounts(to_account) == [
        ("credit", "business", D("-169.35")),
        ("credit", "advanced_security", D("-40.65")),
    ]
    assert (to_account.credit_to_balance, to_account.refund_due) == (D("210.00"), D(0))
    assert "after cancellation" in to_account.lines[0].description
    # Cancelled during 11 January: under half-open day counting that day is still billed.
    refunded = draft(january(10), [Cancelled(at(2025, 1, 11, 12))], CHARGEBEE)
    assert (refunded.credit_to_balance, refunded.refund_due) == (D(0), D("200.00"))
    at_period_end = draft(january(10), [Cancelled(at(2025, 2, 1))], renew=True)
    assert at_period_end.lines == ()
    with pytest.raises(InvoicingError, match=r"events\[1\]: the subscription is already cancelled"):
        draft(january(10), [Cancelled(at(2025, 1, 11)), SeatsAdded(at(2025, 1, 12), 1)])


def test_pause_and_resume() -> None:
    events: list[Event] = [Paused(at(2025, 1, 11)), Resumed(at(2025, 1, 21))]
    crediting = draft(january(10, addons=()), events, STRIPE)
    assert amounts(crediting) == [
        ("credit", "business", D("-169.35")),
        ("charge", "business", D("88.71")),
    ]
    assert crediting.total == D("-80.64")  # 10 paused days of 31, to one cent per line
    keeping = draft(january(10, addons=()), events)
    assert keeping.lines == ()
    still_paused = draft(january(10, addons=()), events[:1], renew=True)
    assert still_paused.lines == ()
    assert still_paused.notes == ("Paused: the period from 1 Feb 2025 is billed when it resumes.",)


def test_addons_added_and_removed() -> None:
    support = price("premium_support", "4.00", "Premium Support")
    added = draft(january(10), [AddonAdded(at(2025, 1, 17), support)])
    assert amounts(added) == [("charge", "premium_support", D("19.35"))]  # 10 x 4 x 15/31
    removed = draft(january(10), [AddonRemoved(at(2025, 1, 17), "advanced_security")], STRIPE)
    assert amounts(removed) == [("credit", "advanced_security", D("-29.03"))]
    kept = draft(
        january(10),
        [AddonRemoved(at(2025, 1, 17), "advanced_security"), AddonAdded(at(2025, 1, 20), SECURITY)],
    )
    assert kept.lines == ()


def test_several_changes_in_one_period_and_at_one_instant() -> None:
    instant = at(2025, 1, 15)
    netted = draft(january(10), [SeatsAdded(instant, 3), SeatsRemoved(instant, 3)], STRIPE)
    assert netted.lines == ()
    events: list[Event] = [
        SeatsAdded(at(2025, 1, 5), 2),
        PlanChanged(at(2025, 1, 12), price("enterprise", "45.00", "Enterprise"), "month"),
        SeatsAdded(at(2025, 1, 12), 3),
        SeatsRemoved(at(2025, 1, 26), 1),
    ]
    result = draft(january(10, addons=()), events, STRIPE)
    assert amounts(result) == [
        ("charge", "business", D("43.55")),  # 2 x 25 x 27/31
        ("credit", "business", D("-193.55")),  # 12 x 25 x 20/31
        ("charge", "enterprise", D("435.48")),  # 15 x 45 x 20/31
        ("credit", "enterprise", D("-8.71")),  # 1 x 45 x 6/31
    ]
    assert result.subtotal == sum(line.amount for line in result.lines)


def test_discounts_percent_and_fixed_pro_rata() -> None:
    terms = InvoiceTerms(
        date(2025, 1, 15),
        discounts=(
            Discount("TEN", percent=D("10")),
            Discount("LOYAL", amount_off=D("31.00"), item_codes=frozenset({"business"})),
        ),
    )
    result = draft(january(10, period_start=None), [Started(at(2025, 1, 15))], terms=terms)
    business, security = result.lines
    # 10 % of 137.10, plus 31.00 x 17/31 on the prorated first period.
    assert business.discount_amount == D("30.71")
    assert security.discount_amount == D("3.29")
    assert result.discount_total == D("34.00")
    credit = draft(january(10), [Cancelled(at(2025, 1, 20))], terms=terms)
    assert credit.lines[0].amount == D("-96.77")
    assert credit.lines[0].discount_amount == D("-21.68")  # -9.68 and -12.00 (31 x 12/31)


def test_tax_account_credit_po_and_due_date() -> None:
    table = load_tax_table()
    terms = InvoiceTerms(
        date(2025, 1, 31),
        payment_terms_days=45,
        po_number="PO-991",
        tax=tax_treatment(table, "GB"),
        account_credit=D("500.00"),
    )
    result = draft(january(10), [SeatsAdded(at(2025, 1, 10), 2)], terms=terms)
    assert [line.tax_amount for line in result.lines] == [D("7.10"), D("1.70")]
    assert (result.subtotal, result.tax_total, result.total) == (D("44.00"), D("8.80"), D("52.80"))
    assert (result.credit_applied, result.amount_due) == (D("52.80"), D("0.00"))
    assert (result.po_number, result.due_date) == ("PO-991", date(2025, 3, 17))
    reverse = InvoiceTerms(
        date(2025, 1, 31), tax=tax_treatment(table, "NL", vat_id="NL004495445B01")
    )
    assert (
        draft(january(10), [SeatsAdded(at(2025, 1, 10), 2)], terms=reverse)
        .notes[0]
        .startswith("Reverse charge")
    )


def test_japanese_yen_has_no_minor_unit() -> None:
    book = load_pricebook()
    plan = book.plan_price("business", "month", "JPY")
    sub = subscription(plan, 7, currency="JPY", period_start=JANUARY)
    terms = InvoiceTerms(date(2025, 1, 9), tax=tax_treatment(load_tax_table(), "JP"))
    result = draft(sub, [SeatsAdded(at(2025, 1, 9), 3)], terms=terms)
    assert amounts(result) == [("charge", "business", D("8235"))]  # 3 x 3700 x 23/31 = 8235.48
    assert (result.tax_total, result.total) == (D("824"), D("9059"))


def test_usage_is_billed_in_arrears_after_the_renewal() -> None:
    book = load_pricebook()
    api = UsageCharge(
        "api_calls",
        "API calls",
        "call",
        JANUARY,
        at(2025, 2, 1),
        D(1_350_000),
        book.usage_price("api_calls", "USD", "business"),
        D(400_000),
    )
    result = draft(subscription(BUSINESS, 10, period_start=JANUARY), [], renew=True, usage=[api])
    assert amounts(result) == [
        ("charge", "business", D("250.00")),
        ("charge", "api_calls", D("700.00")),  # 700,000 calls in tier 1 at 0.0010
        ("charge", "api_calls", D("150.00")),  # 250,000 in tier 2 at 0.0006
    ]


def test_bad_input_names_the_field() -> None:
    with pytest.raises(InvoicingError, match=r"events\[0\].seats: cannot remove 30 of 20 seats"):
        draft(january(), [SeatsRemoved(at(2025, 1, 3), 30)])
    with pytest.raises(
        InvoicingError, match=r"events\[1\].at: 2025-02-03T00:00:00\+00:00 is outside"
    ):
        draft(january(), [SeatsAdded(at(2025, 1, 3), 1), SeatsAdded(at(2025, 2, 3), 1)])
    with pytest.raises(
        InvoicingError, match=r"subscription.invoiced: no entry for 'advanced_security'"
    ):
        draft(
            january(invoiced=(InvoicedItem(BUSINESS, 20, D("500.00")),)), [SeatsAdded(JANUARY, 1)]
        )
    with pytest.raises(
        InvoicingError, match=r"invoiced\[0\].quantity: 15 seats paid is below the 20"
    ):
        draft(
            subscription(
                BUSINESS, 20, period_start=JANUARY, invoiced=(InvoicedItem(BUSINESS, 15, D("1")),)
            ),
            [SeatsAdded(JANUARY, 1)],
        )
    with pytest.raises(
        InvoicingError, match=r"events\[0\].at: a quarterly true-up falls on a quarter"
    ):
        draft(
            subscription(
                BUSINESS, 20, interval="year", quarterly_true_up=True, period_start=JANUARY
            ),
            [QuarterlyTrueUp(at(2025, 4, 2))],
        )
    with pytest.raises(InvoicingError, match=r"events\[0\]: a start must be the first event"):
        draft(january(period_start=None), [Started(at(2025, 1, 5)), SeatsAdded(at(2025, 1, 3), 1)])
    with pytest.raises(
        InvoicingError, match=r"subscription.period_start: a subscription that starts"
    ):
        draft(january(), [Started(at(2025, 1, 3))])
    with pytest.raises(InvoicingError, match=r"subscription.period_start: required"):
        draft(subscription(BUSINESS), [])
    with pytest.raises(InvoicingError, match="account_credit"):
        draft(january(), [], terms=InvoiceTerms(date(2025, 1, 1), account_credit=D("1.001")))
