"""Subscriptions for recurring-billing tests, written through the ORM as provisioning would."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from activities.billing.pricebook import load_pricebook
from activities.billing.proration import Interval as EngineInterval
from activities.billing.proration import period_containing
from activities.billing.tax import load_tax_table
from activities.ledger.models import (
    BillingContact,
    ContractType,
    Customer,
    Interval,
    ItemKind,
    Subscription,
    SubscriptionItem,
    SubscriptionPeriod,
    SubscriptionStatus,
)
from activities.recurring.bill_run import Billing
from activities.recurring.policy import load_policy


def billing() -> Billing:
    return Billing(load_pricebook(), load_tax_table(), load_policy())


def subscription(
    session: Session,
    subscription_id: str,
    *,
    anchor: datetime,
    now: datetime,
    plan: str = "business",
    seats: int = 10,
    interval: EngineInterval = "month",
    currency: str = "USD",
    contract: ContractType = ContractType.SELF_SERVE_MONTHLY,
    addons: tuple[str, ...] = (),
    usage: tuple[str, ...] = (),
    region: str = "US-TX",
    customer_id: str | None = None,
    interval_count: int = 1,
    in_arrears: bool = False,
) -> Subscription:
    """A customer (one billing contact) with a subscription billed from ``anchor``, its
    current period the one holding ``now``, paid in full. With ``customer_id``, the
    subscription is that existing customer's (its second, say). A period of
    ``interval_count`` intervals is priced at that many times the price book's price (the
    contract's own price); ``in_arrears`` bills the plan at the period end for seat-days."""
    book = load_pricebook()
    if customer_id is None:
        customer_id = f"C-{subscription_id}"
        _customer(session, customer_id, subscription_id, anchor, currency, region)
    items = [
        SubscriptionItem(
            item_code=plan,
            kind=ItemKind.PLAN,
            quantity=seats,
            unit_price=book.plan_price(plan, interval, currency).unit_amount * interval_count,
            in_arrears=in_arrears,
        )
    ]
    items += [
        SubscriptionItem(
            item_code=code,
            kind=ItemKind.SEAT_ADDON,
            quantity=seats,
            unit_price=book.addon_price(code, interval, currency, plan).unit_amount
            * interval_count,
        )
        for code in addons
    ]
    items += [
        SubscriptionItem(item_code=code, kind=ItemKind.USAGE_ADDON, quantity=0, unit_price=0)
        for code in usage
    ]
    row = Subscription(
        id=subscription_id,
        customer_id=customer_id,
        plan=plan,
        interval=Interval(interval),
        interval_count=interval_count,
        contract_type=contract,
        status=SubscriptionStatus.ACTIVE,
        currency=currency,
        term_start=anchor,
        term_end=anchor.replace(year=anchor.year + 3),
        billing_anchor=anchor,
        created_at=anchor,
        items=items,
    )
    session.add(row)
    session.flush()
    start, end = period_containing(anchor, interval, now, interval_count)
    session.add(
        SubscriptionPeriod(
            subscription_id=subscription_id,
            period_start=start,
            period_end=end,
            lines_invoiced=0,
            updated_at=now,
        )
    )
    session.flush()
    return row


def _customer(
    session: Session,
    customer_id: str,
    subscription_id: str,
    anchor: datetime,
    currency: str,
    region: str,
) -> None:
    session.add(
        Customer(
            id=customer_id,
            legal_name=f"{subscription_id} Corp",
            country=region[:2],
            timezone="UTC",
            currency=currency,
            payment_terms_days=30,
            address_line1="1 Main St",
            city="Austin",
            region=region if "-" in region else None,
            postal_code="78701",
            created_at=anchor,
            contacts=[
                BillingContact(
                    name="AP", email=f"ap@{subscription_id.lower()}.example", primary=True
                )
            ],
        )
    )
