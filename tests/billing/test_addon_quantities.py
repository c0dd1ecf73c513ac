"""Add-ons with their own quantity, not the plan's seat count (issue 15, item 10).

Stripe prices a subscription as items, each with its own quantity, and prorates a
change of one item's quantity on that item only ("Set product or subscription
quantities", https://docs.stripe.com/billing/subscriptions/quantities: a hosting
company charges 9.99 per site per month, one subscription holds the plan and
``items[1][quantity]=2``; "Multiple quantities are still billed using one invoice, and
are prorated when the subscription changes, including when you change just the
quantities involved"). The proration itself is Stripe's "How prorations work"
(https://docs.stripe.com/billing/subscriptions/prorations): half a period left of a
10 USD item is 5 USD. The figures below are that arithmetic, worked by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from activities.billing.invoicing import (
    AddonAdded,
    AddonQuantityChanged,
    AddonRemoved,
    InvoicedItem,
    InvoiceDraft,
    InvoiceTerms,
    InvoicingError,
    SeatsAdded,
    Subscription,
    draft_invoice,
)
from activities.billing.preview import PreviewError, PreviewRequest, preview_invoice
from activities.billing.pricebook import SeatPrice
from activities.billing.proration import PRESETS

D = Decimal
TERMS = InvoiceTerms(issue_date=date(2025, 4, 1))
STRIPE = PRESETS["stripe_like"]
HOSTING = SeatPrice("hosting", "Hosting", D("25.00"))
SITE = SeatPrice("site", "Extra site", D("9.99"))
ITEM = SeatPrice("item", "Item", D("10.00"))


def at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, tzinfo=UTC)


def lines(draft: InvoiceDraft) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(line.kind, line.item_code, line.quantity, line.amount) for line in draft.lines]


def april(seats: int = 4, sites: int = 2) -> Subscription:
    """Hosting for 4 seats with 2 extra sites, billed monthly from 1 April (30 days)."""
    return Subscription(
        "USD",
        at(4, 1),
        "month",
        HOSTING,
        seats,
        (SITE,),
        period_start=at(4, 1),
        addon_quantities=(("site", sites),),
    )


def test_half_a_period_of_one_more_unit_is_half_its_price() -> None:
    # Stripe: half the period left of a 10 USD item is 5 USD; here 1 → 2 units on 16 April.
    sub = Subscription(
        "USD",
        at(4, 1),
        "month",
        HOSTING,
        3,
        (ITEM,),
        period_start=at(4, 1),
        addon_quantities=(("item", 1),),
    )
    draft = draft_invoice(
        sub, [AddonQuantityChanged(at(4, 16), "item", 2)], terms=TERMS, policy=STRIPE
    )
    assert lines(draft) == [("charge", "item", D(1), D("5.00"))]
    assert (
        draft.lines[0].description
        == "1 added to Item (monthly), 16 Apr 2025 – 1 May 2025 (15.00 of 30 days)"
    )


def test_a_quantity_change_prices_the_add_on_only_and_a_seat_change_the_seats_only() -> None:
    # Stripe's hosting example: 2 sites at 9.99 → 5 on 16 April (15 of 30 days left):
    # 3 × 9.99 × 15/30 = 14.985 → 14.99; 2 seats added the same instant: 2 × 25 × 1/2 = 25.00.
    # The sites do not follow the seats, nor the seats the sites.
    draft = draft_invoice(
        april(),
        [AddonQuantityChanged(at(4, 16), "site", 5), SeatsAdded(at(4, 16), 2)],
        terms=TERMS,
        policy=STRIPE,
    )
    assert lines(draft) == [
        ("charge", "hosting", D(2), D("25.00")),
        ("charge", "site", D(3), D("14.99")),
    ]


def test_a_quantity_decrease_is_credited_at_once_under_stripe_and_renews_at_its_quantity() -> None:
    # 2 sites → 1 on 16 April: 9.99 × 15/30 = 4.995 → −5.00; the renewal bills 1 site, 4 seats.
    draft = draft_invoice(
        april(),
        [AddonQuantityChanged(at(4, 16), "site", 1)],
        terms=TERMS,
        policy=STRIPE,
        renew=True,
    )
    assert lines(draft) == [
        ("credit", "site", D(1), D("-5.00")),
        ("charge", "hosting", D(4), D("100.00")),
        ("charge", "site", D(1), D("9.99")),
    ]


def test_the_high_water_mark_applies_per_add_on() -> None:
    # The default policy: sites 2 → 1 (no credit, 2 stay paid) → 3 on 16 April: only 1 site
    # above the 2 paid is billed, 9.99 × 15/30 = 4.995 → 5.00.
    draft = draft_invoice(
        april(),
        [AddonQuantityChanged(at(4, 10), "site", 1), AddonQuantityChanged(at(4, 16), "site", 3)],
        terms=TERMS,
    )
    assert lines(draft) == [("charge", "site", D(1), D("5.00"))]


def test_an_add_on_added_with_a_quantity_is_billed_for_it_not_the_seats() -> None:
    # 10 seats; 4 sites added on 16 April: 4 × 9.99 × 15/30 = 19.98.
    sub = Subscription("USD", at(4, 1), "month", HOSTING, 10, period_start=at(4, 1))
    draft = draft_invoice(sub, [AddonAdded(at(4, 16), SITE, 4)], terms=TERMS, policy=STRIPE)
    assert lines(draft) == [("charge", "site", D(4), D("19.98"))]
    removed = draft_invoice(
        april(sites=4), [AddonRemoved(at(4, 16), "site")], terms=TERMS, policy=STRIPE
    )
    assert lines(removed) == [("credit", "site", D(4), D("-19.98"))]


def test_invoiced_quantities_are_checked_per_add_on() -> None:
    paid = (InvoicedItem(HOSTING, 4, D("100.00")), InvoicedItem(SITE, 1, D("9.99")))
    sub = Subscription(
        "USD",
        at(4, 1),
        "month",
        HOSTING,
        4,
        (SITE,),
        period_start=at(4, 1),
        invoiced=paid,
        addon_quantities=(("site", 2),),
    )
    with pytest.raises(InvoicingError, match=r"invoiced\[1\].quantity: 1 paid is below the 2"):
        draft_invoice(sub, [SeatsAdded(at(4, 16), 1)], terms=TERMS)


@pytest.mark.parametrize(
    ("subscription", "event", "message"),
    [
        (april(), AddonQuantityChanged(at(4, 16), "site", 0), r"events\[0\].quantity: must be"),
        (april(), AddonQuantityChanged(at(4, 16), "hosting", 3), r"events\[0\].code: 'hosting'"),
        (
            Subscription("USD", at(4, 1), "month", HOSTING, 4, (SITE,), period_start=at(4, 1)),
            AddonQuantityChanged(at(4, 16), "site", 3),
            "not an add-on with its own quantity",
        ),
    ],
)
def test_impossible_quantity_changes_are_refused(
    subscription: Subscription, event: AddonQuantityChanged, message: str
) -> None:
    with pytest.raises(InvoicingError, match=message):
        draft_invoice(subscription, [event], terms=TERMS)


def test_a_quantity_for_an_item_the_subscription_lacks_is_refused() -> None:
    sub = Subscription(
        "USD",
        at(4, 1),
        "month",
        HOSTING,
        4,
        period_start=at(4, 1),
        addon_quantities=(("site", 2),),
    )
    with pytest.raises(InvoicingError, match="addon_quantities: 'site' is not an add-on"):
        draft_invoice(sub, [SeatsAdded(at(4, 16), 1)], terms=TERMS)


def _request(events: list[dict[str, object]]) -> PreviewRequest:
    return PreviewRequest.model_validate_json(
        json.dumps(
            {
                "currency": "USD",
                "policy": "stripe_like",
                "issue_date": "2025-04-16",
                "customer": {"jurisdiction": "US-TX", "tax_exempt": True},
                "subscription": {
                    "plan": {"code": "hosting", "name": "Hosting", "unit_amount": "25.00"},
                    "addons": [
                        {"code": "site", "name": "Extra site", "unit_amount": "9.99", "quantity": 2}
                    ],
                    "seats": 4,
                    "interval": "month",
                    "billing_anchor": "2025-04-01T00:00:00Z",
                },
                "events": events,
            }
        )
    )


def test_the_preview_carries_each_add_on_quantity_in_and_out() -> None:
    response = preview_invoice(
        _request(
            [
                {
                    "type": "addon_quantity_changed",
                    "at": "2025-04-16T00:00:00Z",
                    "code": "site",
                    "quantity": 5,
                },
                {"type": "seats_added", "at": "2025-04-16T00:00:00Z", "seats": 2},
            ]
        )
    )
    assert [(line.item_code, line.quantity, line.amount) for line in response.lines] == [
        ("hosting", D(2), D("25.00")),
        ("site", D(3), D("14.99")),
    ]


def test_the_preview_refuses_a_quantity_change_of_a_per_seat_add_on() -> None:
    request = _request(
        [
            {
                "type": "addon_quantity_changed",
                "at": "2025-04-16T00:00:00Z",
                "code": "hosting",
                "quantity": 5,
            }
        ]
    )
    with pytest.raises((PreviewError, InvoicingError), match=r"events\[0\].code"):
        preview_invoice(request)
