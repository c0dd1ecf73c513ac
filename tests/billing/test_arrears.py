"""Items billed in arrears, seats weighted by the days held (issue 15, item 7).

Lago: a plan's base charge is "paid in advance or in arrears" ("Pay in advance or in
arrears", https://getlago.com/docs/guide/plans/plan-model); on an upgrade of a plan
paid in arrears "Lago immediately generates an invoice covering the prorated portion
of the old plan ... At the end of the billing period, a second invoice is issued for
the prorated portion of the new plan": Plan A €100/month in arrears from 1 January,
upgraded to Plan B €200 on 15 January, "January 15th — Invoice for Plan A: 14 days
prorated = €45.16 (14/31 × €100)" (https://getlago.com/docs/guide/subscriptions/
upgrades-downgrades, "Subscription paid in arrears"). A unit added on 15 September is
charged "based on the number of days of activity (i.e. from September 15th to
September 30th)" (https://getlago.com/changelog/recurring-count). A terminated
subscription's final invoice carries "the outstanding subscription fee (only if the
plan had to be paid in arrears)" (https://doc.getlago.com/docs/guide/plans/
upgrades-downgrades, "Impact on invoicing"). The figures are worked by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from activities.billing.invoicing import (
    Cancelled,
    InvoicedItem,
    InvoiceDraft,
    InvoiceTerms,
    InvoicingError,
    Paused,
    PlanChanged,
    Resumed,
    SeatsAdded,
    SeatsRemoved,
    Subscription,
    draft_invoice,
)
from activities.billing.preview import PreviewRequest, preview_invoice
from activities.billing.pricebook import SeatPrice
from activities.billing.proration import PRESETS

D = Decimal
TERMS = InvoiceTerms(issue_date=date(2025, 2, 1))
LAGO = PRESETS["lago_calendar"]
PLAN_A = SeatPrice("plan_a", "Plan A", D("100.00"), in_arrears=True)
PLAN_B = SeatPrice("plan_b", "Plan B", D("200.00"), in_arrears=True)


def at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC)


def lines(draft: InvoiceDraft) -> list[tuple[str, str, Decimal]]:
    return [(line.kind, line.item_code, line.amount) for line in draft.lines]


def january(plan: SeatPrice = PLAN_A, seats: int = 1, **kwargs: object) -> Subscription:
    return Subscription(
        "EUR",
        at(1, 1),
        "month",
        plan,
        seats,
        period_start=at(1, 1),
        **kwargs,  # type: ignore[arg-type]
    )


def test_lago_upgrade_in_arrears_bills_the_old_plan_at_once() -> None:
    draft = draft_invoice(
        january(), [PlanChanged(at(1, 15), PLAN_B, "month")], terms=TERMS, policy=LAGO
    )
    assert lines(draft) == [("charge", "plan_a", D("45.16"))]
    assert draft.lines[0].description == (
        "1 × Plan A (monthly) in arrears, 1 Jan 2025 – 15 Jan 2025 (14 of 31 days)"
    )


def test_lago_upgrade_in_arrears_bills_the_new_plan_at_the_period_end_and_nothing_twice() -> None:
    # The period's second invoice: Plan B for 15–31 January, 17 of 31 days, 200 × 17/31 =
    # 109.677 → 109.68; Plan A's 45.16 was billed by the first invoice and is deducted.
    draft = draft_invoice(
        january(arrears_billed=(("plan_a", D("45.16")),)),
        [PlanChanged(at(1, 15), PLAN_B, "month")],
        terms=TERMS,
        policy=LAGO,
        renew=True,
    )
    assert lines(draft) == [
        ("charge", "plan_a", D("45.16")),
        ("credit", "plan_a", D("-45.16")),
        ("charge", "plan_b", D("109.68")),
    ]
    assert draft.total == D("109.68")


def test_seats_in_arrears_are_weighted_by_the_days_held() -> None:
    # Lago's recurring count: 10 seats at 30.00 through September, one more from 15
    # September: 10 × 30 + 1 × 30 × 16/30 = 316.00, billed at the end of September.
    price = SeatPrice("seats", "Seats", D("30.00"), in_arrears=True)
    sub = Subscription("USD", at(9, 1), "month", price, 10, period_start=at(9, 1))
    draft = draft_invoice(sub, [SeatsAdded(at(9, 15), 1)], terms=TERMS, policy=LAGO, renew=True)
    assert [(line.quantity, line.amount) for line in draft.lines] == [
        (D(10), D("140.00")),  # 1–15 September, 14 of 30 days
        (D(11), D("176.00")),  # 15 September – 1 October, 16 of 30 days
    ]
    assert draft.subtotal == D("316.00")
    # Before the period ends nothing is billed for it.
    assert draft_invoice(sub, [SeatsAdded(at(9, 15), 1)], terms=TERMS, policy=LAGO).lines == ()


def test_a_termination_bills_the_used_part_with_its_day() -> None:
    # Lago counts a termination's day as used: 1–15 January, 15 of 31 days: 48.39.
    draft = draft_invoice(january(), [Cancelled(at(1, 15))], terms=TERMS, policy=LAGO)
    assert lines(draft) == [("charge", "plan_a", D("48.39"))]


def test_paused_days_are_not_billed_and_seats_removed_stop_counting() -> None:
    # 4 seats at 31.00 in arrears: paused 11–21 January (10 days), 2 seats removed on 26
    # January: 4 × 31 × 10/31 + 4 × 31 × 5/31 + 2 × 31 × 6/31 = 40 + 20 + 12 = 72.00.
    price = SeatPrice("seats", "Seats", D("31.00"), in_arrears=True)
    draft = draft_invoice(
        january(price, 4),
        [Paused(at(1, 11)), Resumed(at(1, 21)), SeatsRemoved(at(1, 26), 2)],
        terms=TERMS,
        renew=True,
    )
    assert [(line.quantity, line.amount) for line in draft.lines] == [
        (D(4), D("40.00")),
        (D(4), D("20.00")),
        (D(2), D("12.00")),
    ]


def test_advance_and_arrears_items_side_by_side() -> None:
    # The plan paid in advance (its renewal is billed ahead), an add-on in arrears (its
    # month is billed behind): 5 seats, plan 20.00, add-on 3.00 a seat.
    plan = SeatPrice("plan", "Plan", D("20.00"))
    addon = SeatPrice("extra", "Extra", D("3.00"), in_arrears=True)
    sub = Subscription("USD", at(1, 1), "month", plan, 5, (addon,), period_start=at(1, 1))
    draft = draft_invoice(sub, [], terms=TERMS, renew=True)
    assert [(line.item_code, line.amount, line.period_start) for line in draft.lines] == [
        ("extra", D("15.00"), at(1, 1)),  # January, behind
        ("plan", D("100.00"), at(2, 1)),  # February, ahead
    ]


def test_an_arrears_item_cannot_be_given_as_invoiced_in_advance() -> None:
    sub = january(invoiced=(InvoicedItem(PLAN_A, 1, D("100.00")),))
    with pytest.raises(InvoicingError, match=r"invoiced\[0\].item_code: 'plan_a' is billed in"):
        draft_invoice(sub, [SeatsAdded(at(1, 10), 1)], terms=TERMS)


def test_the_preview_takes_in_arrears_and_what_was_billed() -> None:
    request = {
        "currency": "EUR",
        "policy": "lago_calendar",
        "issue_date": "2025-02-01",
        "customer": {"jurisdiction": "GB", "tax_exempt": True},
        "subscription": {
            "plan": {
                "code": "plan_a",
                "name": "Plan A",
                "unit_amount": "100.00",
                "in_arrears": True,
            },
            "seats": 1,
            "interval": "month",
            "billing_anchor": "2025-01-01T00:00:00Z",
            "current_period_start": "2025-01-01T00:00:00Z",
            "arrears_billed": [{"item_code": "plan_a", "amount": "45.16"}],
        },
        "events": [
            {
                "type": "plan_changed",
                "at": "2025-01-15T00:00:00Z",
                "plan": {
                    "code": "plan_b",
                    "name": "Plan B",
                    "unit_amount": "200.00",
                    "in_arrears": True,
                },
            },
        ],
        "renew": True,
    }
    response = preview_invoice(PreviewRequest.model_validate_json(json.dumps(request)))
    assert [(line.item_code, line.amount) for line in response.lines] == [
        ("plan_a", D("45.16")),
        ("plan_a", D("-45.16")),
        ("plan_b", D("109.68")),
    ]
    assert response.total == D("109.68")
