"""Periods of N weeks or N months (issue 15, item 9).

Stripe's ``recurring.interval_count``: "The number of intervals between subscription
billings. For example, interval=month and interval_count=3 bills every 3 months.
Maximum of three years interval allowed (3 years, 36 months, or 156 weeks)"
(https://docs.stripe.com/api/prices/create, ``recurring.interval_count``). Lago's
semiannual plan interval bills "every 6 months"
(https://getlago.com/docs/guide/plans/plan-model, "Plan interval"). A piece of such a
period is prorated over the whole period, the day clamped as for a month; the figures
are that arithmetic, worked by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from activities.billing.invoicing import (
    Cancelled,
    InvoiceDraft,
    InvoiceTerms,
    PlanChanged,
    SeatsAdded,
    Started,
    Subscription,
    draft_invoice,
)
from activities.billing.preview import PreviewError, PreviewRequest, preview_invoice
from activities.billing.pricebook import SeatPrice
from activities.billing.proration import (
    DEFAULT_POLICY,
    PRESETS,
    ProrationError,
    boundary_after,
    proration,
)

D = Decimal
TERMS = InvoiceTerms(issue_date=date(2025, 1, 1))
STRIPE = PRESETS["stripe_like"]
PLAN = SeatPrice("plan", "Plan", D("600.00"))


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def lines(draft: InvoiceDraft) -> list[tuple[str, Decimal, datetime, datetime]]:
    return [(line.kind, line.amount, line.period_start, line.period_end) for line in draft.lines]


def test_every_six_months_renews_on_the_anchor_day_clamped() -> None:
    # Anchored on 31 August: every 6 months renews 28 Feb (29 in 2028), 31 Aug, 28 Feb ...
    anchor = at(2025, 8, 31)
    assert boundary_after(anchor, "month", at(2025, 9, 1), 6) == at(2026, 2, 28)
    assert boundary_after(anchor, "month", at(2026, 3, 1), 6) == at(2026, 8, 31)
    assert boundary_after(anchor, "month", at(2027, 9, 1), 6) == at(2028, 2, 29)
    # Every 2 weeks from Monday 6 January 2025.
    assert boundary_after(at(2025, 1, 6), "week", at(2025, 1, 20), 2) == at(2025, 2, 3)


def test_a_semiannual_start_is_prorated_over_the_six_months_that_hold_it() -> None:
    # Lago's semiannual plan, calendar billing from 1 January: a start on 1 April bills
    # 1 April – 1 July, 91 of the 181 days of 1 Jan – 1 Jul 2025: 600 × 91/181 = 301.66.
    sub = Subscription("EUR", at(2025, 1, 1), "month", PLAN, 1, interval_count=6)
    draft = draft_invoice(sub, [Started(at(2025, 4, 1))], terms=TERMS)
    assert lines(draft) == [("charge", D("301.66"), at(2025, 4, 1), at(2025, 7, 1))]
    assert draft.lines[0].description == (
        "1 × Plan (every 6 months), 1 Apr 2025 – 1 Jul 2025 (91 of 181 days)"
    )
    # The renewal is the next whole six months.
    renewed = draft_invoice(sub, [Started(at(2025, 4, 1))], terms=TERMS, renew=True)
    assert lines(renewed)[1] == ("charge", D("600.00"), at(2025, 7, 1), at(2026, 1, 1))


def test_every_two_weeks_prorates_over_fourteen_days() -> None:
    # Stripe, interval=week, interval_count=2, 140.00 a fortnight from Monday 6 Jan 2025;
    # 3 seats added on Monday 13 January: 7 of 14 days, 3 × 140 × 1/2 = 210.00.
    price = SeatPrice("plan", "Plan", D("140.00"))
    sub = Subscription(
        "USD", at(2025, 1, 6), "week", price, 2, period_start=at(2025, 1, 6), interval_count=2
    )
    draft = draft_invoice(sub, [SeatsAdded(at(2025, 1, 13), 3)], terms=TERMS, policy=STRIPE)
    assert lines(draft) == [("charge", D("210.00"), at(2025, 1, 13), at(2025, 1, 20))]


def test_thirty_day_months_count_thirty_days_per_month_of_the_period() -> None:
    # Zuora's "30 days - actual/360" over every 2 months: 60 days; 15 of them is 1/4.
    share = proration(
        at(2025, 2, 14),
        at(2025, 3, 1),
        at(2025, 1, 1),
        at(2025, 3, 1),
        PRESETS["zuora_30_day"],
        "month",
        2,
    )
    assert (share.numerator, share.denominator) == (15, 60)


def test_cancelling_every_three_months_credits_the_unused_part() -> None:
    # Stripe, every 3 months from 1 Jan 2025 (90 days to 1 April), cancelled on 1 March:
    # 31 of 90 days unused, 600 × 31/90 = 206.666… → 206.67 credited.
    sub = Subscription(
        "USD", at(2025, 1, 1), "month", PLAN, 1, period_start=at(2025, 1, 1), interval_count=3
    )
    draft = draft_invoice(sub, [Cancelled(at(2025, 3, 1))], terms=TERMS, policy=STRIPE)
    assert lines(draft) == [("credit", D("-206.67"), at(2025, 3, 1), at(2025, 4, 1))]


def test_moving_from_monthly_to_every_six_months_starts_a_new_period() -> None:
    # Stripe: a change of interval credits the unused month and starts a six-month period.
    sub = Subscription(
        "USD",
        at(2025, 1, 1),
        "month",
        SeatPrice("plan", "Plan", D("120.00")),
        1,
        period_start=at(2025, 1, 1),
    )
    draft = draft_invoice(
        sub, [PlanChanged(at(2025, 1, 16), PLAN, "month", (), 6)], terms=TERMS, policy=STRIPE
    )
    assert lines(draft) == [
        ("credit", D("-61.94"), at(2025, 1, 16), at(2025, 2, 1)),  # 120 × 16/31
        ("charge", D("600.00"), at(2025, 1, 16), at(2025, 7, 16)),
    ]


@pytest.mark.parametrize(
    ("interval", "count", "message"),
    [
        ("month", 37, r"subscription.interval_count: 37 must be from 1 to 36"),
        ("year", 4, r"subscription.interval_count: 4 must be from 1 to 3"),
        ("week", 157, r"subscription.interval_count: 157 must be from 1 to 156"),
        ("month", 0, r"subscription.interval_count: 0 must be from 1 to 36"),
    ],
)
def test_more_than_three_years_is_refused(interval: str, count: int, message: str) -> None:
    sub = Subscription("USD", at(2025, 1, 1), interval, PLAN, 1, interval_count=count)  # type: ignore[arg-type]
    with pytest.raises(ProrationError, match=message):
        draft_invoice(sub, [Started(at(2025, 1, 1))], terms=TERMS)


def test_a_weekly_period_still_refuses_month_based_rules() -> None:
    sub = Subscription(
        "USD", at(2025, 1, 6), "week", PLAN, 1, period_start=at(2025, 1, 6), interval_count=2
    )
    with pytest.raises(ProrationError, match="denominator: fixed_30_day_month counts 30-day"):
        draft_invoice(
            sub, [SeatsAdded(at(2025, 1, 9), 1)], terms=TERMS, policy=PRESETS["zuora_30_day"]
        )
    assert DEFAULT_POLICY.anchor_on_change == "reset"


def _request(**subscription: object) -> PreviewRequest:
    return PreviewRequest.model_validate_json(
        json.dumps(
            {
                "currency": "USD",
                "issue_date": "2025-04-01",
                "customer": {"jurisdiction": "US-TX", "tax_exempt": True},
                "subscription": {
                    "plan": {"code": "business"},
                    "seats": 1,
                    "interval": "month",
                    "interval_count": 6,
                    "billing_anchor": "2025-01-01T00:00:00Z",
                    **subscription,
                },
                "events": [{"type": "started", "at": "2025-04-01T00:00:00Z"}],
            }
        )
    )


def test_the_preview_takes_interval_count_with_a_given_price() -> None:
    response = preview_invoice(_request(plan={"code": "business", "unit_amount": "600.00"}))
    assert [(line.amount, line.proration_fraction) for line in response.lines] == [
        (D("301.66"), D("0.502762430939"))
    ]


def test_the_preview_refuses_a_book_price_for_several_intervals() -> None:
    with pytest.raises(
        PreviewError,
        match=r"subscription.plan.unit_amount: required for a "
        r"period of 6 months",
    ):
        preview_invoice(_request())
