"""The demo book's current billing periods: seat changes and upgrades made this period, and
metered API calls every day so far, so the first bill run after `make run` invoices real
renewals with proration and usage (`billing-ops bill-run --date` advances the demo). Annual
contracts with metered calls invoiced this term get a minimum commitment, trued up at
their term end.

A random stream of its own, so the rest of the demo book stays as it was for a seed.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.billing.pricebook import load_pricebook
from activities.billing.proration import period_containing
from activities.billing.tax import load_tax_table
from activities.ledger.models import (
    ContractType,
    ItemKind,
    Subscription,
    SubscriptionCommitment,
    SubscriptionItem,
    SubscriptionPeriod,
    UsageEvent,
)
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.commitments import billed_toward
from activities.recurring.history import INTERVALS
from activities.recurring.policy import load_policy

ACTOR = "system:seed-demo"
UPGRADE = {"plus": "business", "business": "enterprise"}
DAILY_CALLS = {"plus": 900, "business": 6_000, "enterprise": 45_000}


def seed_current_periods(session: Session, *, seed: int, now: datetime) -> tuple[int, int]:
    """Open each subscription's current period; record changes and usage in some.
    Returns (changes, usage events)."""
    rng = random.Random(seed * 7919 + 16)
    book, taxes, policy = load_pricebook(), load_tax_table(), load_policy()
    changes = events = 0
    for subscription in session.scalars(select(Subscription).order_by(Subscription.id)).all():
        start, end = period_containing(
            subscription.billing_anchor, INTERVALS[subscription.interval.value], now
        )
        session.add(
            SubscriptionPeriod(
                subscription_id=subscription.id,
                period_start=start,
                period_end=end,
                lines_invoiced=0,
                # The book's invoices billed whole periods: earlier true-ups had nothing to do.
                invoiced_through=now if subscription.interval.value == "year" else None,
                updated_at=now,
            )
        )
        session.flush()
        if rng.random() < 0.4:
            subscription.items.append(
                SubscriptionItem(
                    item_code="api_calls", kind=ItemKind.USAGE_ADDON, quantity=0, unit_price=0
                )
            )
            events += _usage(session, rng, subscription, start, now)
        monthly = subscription.contract_type == ContractType.SELF_SERVE_MONTHLY
        elapsed = (now - start).days
        if not monthly or elapsed < 2 or rng.random() > 0.3:
            continue
        at = start + timedelta(days=rng.randint(1, elapsed - 1), hours=rng.randint(8, 18))
        seats = next(i.quantity for i in subscription.items if i.kind == ItemKind.PLAN)
        upgrade = UPGRADE.get(subscription.plan) if rng.random() < 0.2 else None
        change_subscription(
            session,
            ChangeRequest(
                subscription_id=subscription.id,
                kind="plan" if upgrade else "seats",
                plan=upgrade,
                seats=None if upgrade else seats + rng.randint(1, 5),
                at=at,
                actor=ACTOR,
                reason="demo: a change made this period",
                source="seed",
                idempotency_key=f"seed:{subscription.id}:{at.isoformat()}",
            ),
            book=book,
            taxes=taxes,
            policy=policy,
            now=at,
            apply=True,
        )
        changes += 1
    _commitments(session, now)
    return changes, events


def _commitments(session: Session, now: datetime) -> None:
    """Annual contracts with metered API calls commit to spend a tenth more over the term
    than the demo book invoiced them for it (those invoiced this term): the bill run at
    the term end trues up whatever their usage did not make up."""
    for subscription in session.scalars(
        select(Subscription)
        .where(Subscription.contract_type == ContractType.ANNUAL_INVOICED)
        .order_by(Subscription.id)
    ).all():
        if not any(i.item_code == "api_calls" for i in subscription.items):
            continue
        commitment = SubscriptionCommitment(
            subscription_id=subscription.id,
            currency=subscription.currency,
            amount=Decimal(1),
            period_start=subscription.term_start,
            period_end=subscription.term_end,
            created_at=now,
        )
        billed = billed_toward(session, commitment)
        if billed <= 0:
            continue
        commitment.amount = (billed * Decimal("1.1") / 1000).to_integral_value(ROUND_CEILING) * 1000
        session.add(commitment)


def _usage(
    session: Session, rng: random.Random, subscription: Subscription, start: datetime, now: datetime
) -> int:
    daily = DAILY_CALLS.get(subscription.plan, 1_000)
    day = max(start, subscription.term_start)
    count = 0
    while day + timedelta(hours=12) < now:
        session.add(
            UsageEvent(
                subscription_id=subscription.id,
                event_id=f"demo-{day.date().isoformat()}",
                metric="api_calls",
                quantity=Decimal(int(daily * rng.uniform(0.5, 1.6))),
                occurred_at=day + timedelta(hours=12),
                received_at=now,
            )
        )
        count += 1
        day += timedelta(days=1)
    return count
