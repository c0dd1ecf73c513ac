"""`/billing preview`: a seat or plan change on a ledger subscription, priced by the engine.

The invoice preview contract takes a self-contained :class:`PreviewRequest`;
this module fills one in from the ledger (the subscription's plan, seats,
add-ons and prices, the customer's tax position and account credit) plus the
one change asked for, effective now. The current period is assumed invoiced
in full, as it is for a subscription in good standing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from activities.billing.money import ZERO
from activities.billing.preview import (
    CustomerIn,
    ItemIn,
    PlanChangedIn,
    PreviewRequest,
    PreviewResponse,
    SeatsAddedIn,
    SeatsRemovedIn,
    SubscriptionIn,
    preview_invoice,
)
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.models import (
    CreditNote,
    ItemKind,
    Subscription,
    SubscriptionStatus,
    TaxId,
)
from bot.commands import PreviewChange

#: Tax id schemes that are VAT registrations (reverse charge in the tax table).
VAT_SCHEMES = ("eu_vat", "gb_vat")
#: Countries taxed by subdivision: the tax table lists their states and provinces.
BY_SUBDIVISION = ("US", "CA")


def preview_change(session: Session, change: PreviewChange, now: datetime) -> PreviewResponse:
    """The invoice that ``change`` would produce if made at ``now``; nothing is written."""
    return preview_invoice(preview_request(session, change, now))


def preview_request(session: Session, change: PreviewChange, now: datetime) -> PreviewRequest:
    subscription = session.scalar(
        select(Subscription)
        .where(Subscription.id == change.subscription_id)
        .options(selectinload(Subscription.items), selectinload(Subscription.customer))
    )
    if subscription is None:
        raise NotFound(f"subscription {change.subscription_id!r} not found")
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise LedgerError(f"subscription {subscription.id} is cancelled: nothing to change")
    plan = next((i for i in subscription.items if i.kind == ItemKind.PLAN), None)
    if plan is None:
        raise LedgerError(f"subscription {subscription.id} has no plan item")
    customer = subscription.customer
    if change.seats is not None:
        if change.seats == plan.quantity:
            raise LedgerError(f"seats: {subscription.id} already has {plan.quantity} seats")
        difference = change.seats - plan.quantity
        event: SeatsAddedIn | SeatsRemovedIn | PlanChangedIn = (
            SeatsAddedIn(type="seats_added", at=now, seats=difference)
            if difference > 0
            else SeatsRemovedIn(type="seats_removed", at=now, seats=-difference)
        )
    else:
        if change.plan == subscription.plan:
            raise LedgerError(f"plan: {subscription.id} is already on {subscription.plan}")
        event = PlanChangedIn(type="plan_changed", at=now, plan=ItemIn(code=change.plan or ""))
    vat_id = session.scalar(
        select(TaxId.value).where(TaxId.customer_id == customer.id, TaxId.scheme.in_(VAT_SCHEMES))
    )
    credit = session.scalar(
        select(func.coalesce(func.sum(CreditNote.unapplied), 0)).where(
            CreditNote.customer_id == customer.id, CreditNote.currency == subscription.currency
        )
    )
    by_subdivision = customer.country in BY_SUBDIVISION and customer.region
    return PreviewRequest(
        currency=subscription.currency,
        issue_date=now.date(),
        payment_terms_days=customer.payment_terms_days,
        customer=CustomerIn(
            jurisdiction=customer.region if by_subdivision else customer.country,
            tax_exempt=customer.tax_exempt,
            vat_id=vat_id,
            account_credit=Decimal(credit or ZERO),
        ),
        subscription=SubscriptionIn(
            plan=ItemIn(code=plan.item_code, unit_amount=plan.unit_price),
            addons=[
                ItemIn(code=item.item_code, unit_amount=item.unit_price)
                for item in subscription.items
                if item.kind == ItemKind.SEAT_ADDON
            ],
            seats=plan.quantity,
            interval=subscription.interval.value,
            billing_anchor=subscription.billing_anchor,
            paused=subscription.status == SubscriptionStatus.PAUSED,
        ),
        events=[event],
    )
