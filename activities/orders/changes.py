"""What a valid order does to a subscription, and how the invoicing engine is asked to bill it.

Pure: the subscription's items after the order, and the engine's input for
the first invoice (a start, prorated to the billing anchor) or for an
amendment's invoice (seats added, an upgrade, add-ons added, each charged for
the rest of the current period). The amounts themselves are always the
engine's (:func:`activities.billing.invoicing.draft_invoice`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from activities.billing.invoicing import (
    AddonAdded,
    Discount,
    Event,
    PlanChanged,
    SeatsAdded,
    Started,
    Subscription,
)
from activities.billing.pricebook import PriceBook, SeatPrice
from activities.billing.proration import Interval
from activities.orders.model import Order
from activities.orders.pricing import effective_unit_price
from activities.orders.validation import SubscriptionFacts, SubscriptionItemFacts

INTERVALS: tuple[Interval, ...] = ("month", "quarter", "year")


def subscription_items(order: Order, book: PriceBook) -> list[SubscriptionItemFacts]:
    """The items a valid order asks for, at their per-seat price after the order's discounts.

    Seat add-ons cover every seat of the plan; usage add-ons are metered, so
    they carry no seats and no price here (usage is priced from the price
    book when it is billed, in arrears). A period of several intervals is priced at
    the book's price that many times, unless the order gives its own; each item
    keeps the order's ``in_arrears``.
    """
    plan = book.plans[order.plan]
    count = order.interval_count or 1
    items = [
        SubscriptionItemFacts(
            item_code=order.plan,
            kind="plan",
            quantity=order.seats,
            unit_price=effective_unit_price(
                plan.prices[order.interval, order.currency] * count,
                order.unit_price,
                order.discount_percent,
            ),
            in_arrears=bool(order.in_arrears),
        )
    ]
    for addon in order.addons:
        seat_addon = book.seat_addons.get(addon.code)
        if seat_addon is None:
            items.append(
                SubscriptionItemFacts(
                    item_code=addon.code, kind="usage_addon", quantity=0, unit_price=Decimal(0)
                )
            )
            continue
        items.append(
            SubscriptionItemFacts(
                item_code=addon.code,
                kind="seat_addon",
                quantity=order.seats,
                unit_price=effective_unit_price(
                    seat_addon.prices[order.interval, order.currency] * count,
                    addon.unit_price,
                    addon.discount_percent,
                ),
                in_arrears=bool(addon.in_arrears),
            )
        )
    return items


def _interval(subscription: SubscriptionFacts) -> Interval:
    for interval in INTERVALS:
        if subscription.interval == interval:
            return interval
    raise ValueError(f"interval: {subscription.interval!r} is not month, quarter or year")


def _price(item: SubscriptionItemFacts, book: PriceBook) -> SeatPrice:
    """The item at the price the subscription pays, named as the price book names it."""
    if item.kind == "plan":
        name = book.plans[item.item_code].name
    else:
        name = book.seat_addons[item.item_code].name
    return SeatPrice(item.item_code, name, item.unit_price, item.in_arrears)


def engine_subscription(subscription: SubscriptionFacts, book: PriceBook) -> Subscription:
    """The subscription as the invoicing engine sees it: plan, seats and seat add-ons."""
    plan = next(item for item in subscription.items if item.kind == "plan")
    return Subscription(
        currency=subscription.currency,
        anchor=subscription.billing_anchor,
        interval=_interval(subscription),
        plan=_price(plan, book),
        seats=plan.quantity,
        addons=tuple(_price(i, book) for i in subscription.items if i.kind == "seat_addon"),
        interval_count=subscription.interval_count,
    )


def first_invoice_events(subscription: SubscriptionFacts) -> list[Event]:
    """A new subscription starts at its term start; the engine bills up to the anchor."""
    return [Started(at=subscription.term_start)]


def amendment_events(
    before: SubscriptionFacts, after: SubscriptionFacts, at: datetime, book: PriceBook
) -> list[Event]:
    """The changes from ``before`` to ``after`` at ``at``, as the engine's events.

    Orders only add (validation refuses reductions and add-on repricing
    mid-term): a dearer plan or plan price is a plan change that carries the
    add-ons along, more seats are seats added, a new seat add-on is an add-on
    added.
    """
    old_plan = next(item for item in before.items if item.kind == "plan")
    new_plan = next(item for item in after.items if item.kind == "plan")
    old_addons = {i.item_code: i for i in before.items if i.kind == "seat_addon"}
    new_addons = {i.item_code: i for i in after.items if i.kind == "seat_addon"}
    events: list[Event] = []
    if (old_plan.item_code, old_plan.unit_price) != (new_plan.item_code, new_plan.unit_price):
        events.append(
            PlanChanged(
                at=at,
                plan=_price(new_plan, book),
                interval=_interval(after),
                addons=tuple(_price(item, book) for item in new_addons.values()),
            )
        )
    else:
        events.extend(
            AddonAdded(at=at, addon=_price(item, book))
            for code, item in new_addons.items()
            if code not in old_addons
        )
    if new_plan.quantity > old_plan.quantity:
        events.append(SeatsAdded(at=at, seats=new_plan.quantity - old_plan.quantity))
    return events


def order_discounts(
    subscription: Subscription, order: Order, book: PriceBook
) -> tuple[Subscription, tuple[Discount, ...]]:
    """A new subscription at its prices before the order's discounts, and the discounts.

    The subscription keeps the discounted per-seat price (what renewals bill);
    the first invoice bills the price before the discount and the discount as
    its own amount on each line, so the customer can check both.
    """
    discounts: list[Discount] = []

    def undiscounted(price: SeatPrice, listed: Decimal, percent: Decimal) -> SeatPrice:
        if not percent:
            return price
        discounts.append(
            Discount(
                f"{percent.normalize():f}% order discount", percent, None, frozenset({price.code})
            )
        )
        return SeatPrice(price.code, price.name, listed, price.in_arrears)

    count = subscription.interval_count  # a period of several intervals: the book's, as often
    plan = undiscounted(
        subscription.plan,
        order.unit_price
        if order.unit_price is not None
        else book.plans[order.plan].prices[order.interval, order.currency] * count,
        order.discount_percent,
    )
    ordered = {addon.code: addon for addon in order.addons}
    addons = []
    for addon in subscription.addons:
        line = ordered[addon.code]
        listed = line.unit_price
        if listed is None:
            listed = book.seat_addons[addon.code].prices[order.interval, order.currency] * count
        addons.append(undiscounted(addon, listed, line.discount_percent))
    return replace(subscription, plan=plan, addons=tuple(addons)), tuple(discounts)
