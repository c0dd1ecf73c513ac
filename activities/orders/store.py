"""Orders in the ledger: the order row, what validation needs to know, customers and subscriptions.

Every write is audited and keyed by the order id, so the provisioning
activities can be retried (or the whole order submitted again) without
creating a second customer or subscription.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from activities.billing.pricebook import PriceBook
from activities.billing.proration import boundary_after
from activities.ledger import audit
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError, NotFound
from activities.ledger.models import (
    BillingContact,
    ContractType,
    Customer,
    IdempotencyKey,
    Interval,
    ItemKind,
    Order,
    OrderStatus,
    Subscription,
    SubscriptionCommitment,
    SubscriptionItem,
    SubscriptionPeriod,
    SubscriptionStatus,
    TaxId,
)
from activities.ledger.numbering import next_number
from activities.orders.changes import subscription_items
from activities.orders.intake import content_hash
from activities.orders.model import Order as OrderForm
from activities.orders.validation import (
    CustomerFacts,
    LedgerFacts,
    SubscriptionFacts,
    SubscriptionItemFacts,
    ValidationReport,
)

CUSTOMER_SERIES = "CUS"
SUBSCRIPTION_SERIES = "SUB"


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def jsonable(value: Any) -> Any:
    """Decimals and dates as strings, so a JSON column keeps them exact."""
    return to_jsonable_python(value)


# --- What validation needs -----------------------------------------------------


def customer_facts(customer: Customer) -> CustomerFacts:
    return CustomerFacts(
        id=customer.id,
        currency=customer.currency,
        country=customer.country,
        payment_terms_days=customer.payment_terms_days,
        po_required=customer.po_required,
        tax_exempt=customer.tax_exempt,
        legal_name=customer.legal_name,
        region=customer.region,
        tax_ids=[(tax_id.scheme, tax_id.value) for tax_id in customer.tax_ids],
        timezone=customer.timezone,
        address_line1=customer.address_line1,
        address_line2=customer.address_line2,
        city=customer.city,
        postal_code=customer.postal_code,
        exemption_certificate=customer.tax_exemption_certificate,
        contact_emails=[contact.email for contact in customer.contacts],
        contact_names=[contact.name for contact in customer.contacts],
    )


def subscription_facts(subscription: Subscription) -> SubscriptionFacts:
    return SubscriptionFacts(
        id=subscription.id,
        customer_id=subscription.customer_id,
        plan=subscription.plan,
        interval=subscription.interval.value,
        interval_count=subscription.interval_count,
        currency=subscription.currency,
        status=subscription.status.value,
        term_start=subscription.term_start,
        term_end=subscription.term_end,
        billing_anchor=subscription.billing_anchor,
        items=[
            SubscriptionItemFacts(
                item_code=item.item_code,
                kind=item.kind.value,
                quantity=item.quantity,
                unit_price=item.unit_price,
                in_arrears=item.in_arrears,
            )
            for item in subscription.items
        ],
    )


def ledger_facts(session: Session, raw: Mapping[str, Any]) -> LedgerFacts:
    """The customer and subscription an order (as received, maybe malformed) refers to,
    and the customer its billing email already belongs to."""
    customer_ref = raw.get("customer")
    customer_id = customer_ref.get("id") if isinstance(customer_ref, Mapping) else None
    email = customer_ref.get("contact_email") if isinstance(customer_ref, Mapping) else None
    amends = raw.get("amends")
    customer = session.get(Customer, customer_id.strip()) if isinstance(customer_id, str) else None
    subscription = session.get(Subscription, amends.strip()) if isinstance(amends, str) else None
    return LedgerFacts(
        customer=customer_facts(customer) if customer else None,
        subscription=subscription_facts(subscription) if subscription else None,
        email_owners=email_owners(session, email) if isinstance(email, str) else [],
        opportunity_orders=opportunity_orders(session, raw),
        active_subscriptions=[
            subscription_facts(held)
            for held in session.scalars(
                select(Subscription)
                .where(
                    Subscription.customer_id == customer.id,
                    Subscription.status == SubscriptionStatus.ACTIVE,
                )
                .order_by(Subscription.id)
            )
        ]
        if customer is not None
        else [],
    )


def opportunity_orders(session: Session, raw: Mapping[str, Any]) -> list[str]:
    """The other orders of ``raw``'s opportunity that were provisioned or wait for an
    approval (an order refused and sent again under a new id does not count)."""
    opportunity, order_id = raw.get("opportunity_id"), raw.get("order_id")
    if not isinstance(opportunity, str) or not opportunity.strip():
        return []
    rows = session.scalars(
        select(Order.id)
        .where(
            Order.opportunity_id == opportunity.strip(),
            Order.id != (order_id.strip() if isinstance(order_id, str) else ""),
            Order.status.in_([OrderStatus.PROVISIONED, OrderStatus.PENDING_APPROVAL]),
        )
        .order_by(Order.id)
    )
    return list(rows)


def email_owners(session: Session, email: str) -> list[str]:
    """The customers whose billing contacts have ``email`` (without regard to case)."""
    wanted = email.strip().casefold()
    if not wanted:
        return []
    rows = session.scalars(
        select(BillingContact.customer_id)
        .where(func.lower(BillingContact.email) == wanted)
        .distinct()
        .order_by(BillingContact.customer_id)
    )
    return list(rows)


# --- The order row -------------------------------------------------------------


def receive(
    session: Session, order_id: str, payload: Mapping[str, Any], actor: str, now: datetime
) -> Order:
    """The order's row, created on first receipt; a resubmission replaces the payload
    unless the order was already provisioned (then the row is returned as it is)."""
    row = session.get(Order, order_id)
    submitted = content_hash(jsonable(dict(payload)))
    if row is not None:
        resubmission(row, payload)
    if row is not None and row.status == OrderStatus.PROVISIONED:
        return row
    before = None if row is None else {"status": row.status, "payload": row.payload}
    if row is None:
        row = Order(id=order_id, received_at=now, problems=None, content_hash=submitted)
        opportunity = payload.get("opportunity_id")
        row.opportunity_id = opportunity.strip() if isinstance(opportunity, str) else None
        session.add(row)
    row.status = OrderStatus.RECEIVED
    row.payload = jsonable(dict(payload))
    row.updated_at = now
    customer_ref = payload.get("customer")
    customer_id = customer_ref.get("id") if isinstance(customer_ref, Mapping) else None
    if isinstance(customer_id, str) and session.get(Customer, customer_id) is not None:
        row.customer_id = customer_id
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="order.received" if before is None else "order.resubmitted",
        subject_type="order",
        subject_id=order_id,
        before=before,
        after={"status": row.status},
    )
    return row


def resubmission(row: Order, payload: Mapping[str, Any]) -> None:
    """An order id submitted again must carry the same order: as first submitted, or as
    corrected since. Anything else is refused, showing what differs."""
    content = jsonable(dict(payload))
    if content_hash(content) in (row.content_hash, content_hash(row.payload)):
        return
    raise LedgerError(
        f"order_id: {row.id} was already submitted with other content ({row.status.value}); "
        f"this one differs in {differences(row.payload, content)}. Send a new order id, or "
        "correct the order held as an exception"
    )


def differences(held: Any, given: Any, limit: int = 5) -> str:
    """``seats: 20 -> 50; customer.legal_name: 'A' -> 'B'``: the fields that differ."""
    left, right = _flatten(held), _flatten(given)
    changed = [
        f"{path}: {_short(left.get(path))} -> {_short(right.get(path))}"
        for path in sorted(left.keys() | right.keys())
        if left.get(path, _MISSING) != right.get(path, _MISSING)
    ]
    more = f"; and {len(changed) - limit} more" if len(changed) > limit else ""
    return "; ".join(changed[:limit]) + more


_MISSING = object()


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= _flatten(item, f"{path}.{key}" if path else str(key))
        return flat
    if isinstance(value, list):
        flat = {}
        for index, item in enumerate(value):
            flat |= _flatten(item, f"{path}[{index}]")
        return flat
    return {path: value}


def set_status(
    session: Session,
    order_id: str,
    status: OrderStatus,
    *,
    payload: Mapping[str, Any] | None,
    report: ValidationReport | None,
    actor: str,
    reason: str | None,
    now: datetime,
) -> None:
    """Move the order to ``status``, keeping the last validation result; audited."""
    row = session.get(Order, order_id)
    if row is None:
        raise NotFound(f"order {order_id!r} not found")
    before = {"status": row.status}
    if row.status == status and payload is None and report is None:
        return
    row.status = status
    if payload is not None:
        row.payload = jsonable(dict(payload))
    if report is not None:
        row.problems = jsonable(
            {
                "problems": [p.model_dump() for p in report.problems],
                "price_exceptions": [e.model_dump() for e in report.price_exceptions],
            }
        )
    row.updated_at = now
    audit.record(
        session,
        at=now,
        actor=actor,
        action=f"order.{status.value}",
        subject_type="order",
        subject_id=order_id,
        before=before,
        after={"status": status, "errors": len(report.errors) if report else None},
        reason=reason,
    )


# --- Customer and subscription -------------------------------------------------


def create_customer(session: Session, order: OrderForm, actor: str, now: datetime) -> Customer:
    """A new customer from the order's details (the order has been validated)."""
    ref, address = order.customer, order.billing_address
    assert ref.legal_name and ref.contact_email
    claim_billing_email(session, ref.contact_email)
    customer = Customer(
        id=next_number(session, CUSTOMER_SERIES),
        legal_name=ref.legal_name,
        country=address.country,
        timezone=ref.timezone or "UTC",
        currency=order.currency,
        payment_terms_days=order.payment_terms_days,
        address_line1=address.line1,
        address_line2=address.line2,
        city=address.city,
        region=address.region,
        postal_code=address.postal_code,
        tax_exempt=order.tax_exempt,
        tax_exemption_certificate=order.exemption_certificate,
        po_required=ref.po_required,
        created_at=now,
        contacts=[
            BillingContact(
                name=ref.contact_name or ref.legal_name, email=ref.contact_email, primary=True
            )
        ],
        tax_ids=[TaxId(scheme=t.scheme, value=t.value) for t in order.tax_ids],
    )
    session.add(customer)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="customer.created",
        subject_type="customer",
        subject_id=customer.id,
        after={
            "legal_name": customer.legal_name,
            "currency": customer.currency,
            "country": customer.country,
            "order_id": order.order_id,
        },
    )
    return customer


def claim_billing_email(session: Session, email: str) -> None:
    """Refuse a new customer a billing email that is already another customer's.

    Validation checked it when the order was read; this checks again in the
    transaction that creates the customer, holding (on PostgreSQL) a lock on the
    address until commit, so two orders racing with one new address cannot both
    take it.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"billing-email:{email.strip().casefold()}"},
        )
    owners = email_owners(session, email)
    if owners:
        raise LedgerError(
            f"customer.contact_email: {email} is already the billing email of "
            f"{', '.join(owners)}; name that customer (customer.id) or give a new address"
        )


def _items(order: OrderForm, book: PriceBook) -> list[SubscriptionItem]:
    return [
        SubscriptionItem(
            item_code=item.item_code,
            kind=ItemKind(item.kind),
            quantity=item.quantity,
            unit_price=item.unit_price,
            in_arrears=item.in_arrears,
        )
        for item in subscription_items(order, book)
    ]


def create_subscription(
    session: Session,
    customer: Customer,
    order: OrderForm,
    book: PriceBook,
    actor: str,
    now: datetime,
) -> Subscription:
    """The order's subscription, billed from its anchor (the term start unless given)."""
    assert order.term_start is not None and order.term_end is not None
    interval = Interval(order.interval)
    subscription = Subscription(
        id=next_number(session, SUBSCRIPTION_SERIES),
        customer_id=customer.id,
        plan=order.plan,
        interval=interval,
        interval_count=order.interval_count or 1,
        # Sales orders are invoiced; only monthly billing matches the self-serve contract.
        contract_type=ContractType.SELF_SERVE_MONTHLY
        if interval == Interval.MONTH
        else ContractType.ANNUAL_INVOICED,
        status=SubscriptionStatus.ACTIVE,
        currency=order.currency,
        term_start=midnight(order.term_start),
        term_end=midnight(order.term_end),
        billing_anchor=midnight(order.billing_anchor or order.term_start),
        created_at=now,
        items=_items(order, book),
    )
    session.add(subscription)
    session.flush()
    session.add(first_period(subscription, now))
    audit.record(
        session,
        at=now,
        actor=actor,
        action="subscription.created",
        subject_type="subscription",
        subject_id=subscription.id,
        after=subscription_facts(subscription).model_dump(),
    )
    if order.minimum_commitment is not None:
        agree_commitment(session, subscription, order, actor, now)
    return subscription


def agree_commitment(
    session: Session, subscription: Subscription, order: OrderForm, actor: str, now: datetime
) -> None:
    """The order's minimum commitment over the subscription's term, for the bill run at the
    term end to true up (activities/recurring/commitments.py)."""
    committed = order.minimum_commitment
    assert committed is not None
    row = SubscriptionCommitment(
        subscription_id=subscription.id,
        currency=subscription.currency,
        amount=committed.amount,
        period_start=subscription.term_start,
        period_end=subscription.term_end,
        item_codes=list(committed.item_codes) or None,
        created_at=now,
    )
    session.add(row)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="subscription.commitment_agreed",
        subject_type="subscription",
        subject_id=subscription.id,
        after={
            "amount": str(row.amount),
            "currency": row.currency,
            "period_start": row.period_start.isoformat(),
            "period_end": row.period_end.isoformat(),
            "item_codes": row.item_codes,
        },
        reason=f"order {order.order_id}",
    )


def first_period(subscription: Subscription, now: datetime) -> SubscriptionPeriod:
    """The first billing period, which the order's first invoice bills: from the term start
    to the first renewal of the anchor's schedule after it (the bill run takes it from there)."""
    return SubscriptionPeriod(
        subscription_id=subscription.id,
        period_start=subscription.term_start,
        period_end=boundary_after(
            subscription.billing_anchor,
            subscription.interval.value,
            subscription.term_start,
            subscription.interval_count,
        ),
        lines_invoiced=0,
        updated_at=now,
    )


def amend_subscription(
    session: Session,
    subscription: Subscription,
    order: OrderForm,
    book: PriceBook,
    actor: str,
    now: datetime,
) -> None:
    """Bring the subscription's plan and items to what the amendment orders."""
    before = subscription_facts(subscription)
    wanted = {item.item_code: item for item in _items(order, book)}
    for item in list(subscription.items):
        if item.item_code not in wanted:
            subscription.items.remove(item)
    held = {item.item_code: item for item in subscription.items}
    for code, item in wanted.items():
        if code in held:
            held[code].kind = item.kind
            held[code].quantity = item.quantity
            held[code].unit_price = item.unit_price
        else:
            subscription.items.append(item)
    subscription.plan = order.plan
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="subscription.amended",
        subject_type="subscription",
        subject_id=subscription.id,
        before=before.model_dump(),
        after=subscription_facts(subscription).model_dump(),
        reason=f"order {order.order_id}",
    )


def done(session: Session, key: str) -> dict[str, Any] | None:
    """The stored result of a side effect already done under ``key``."""
    row = session.get(IdempotencyKey, key)
    return row.result if row is not None else None


def remember(session: Session, key: str, action: str, result: Any, now: datetime) -> None:
    session.add(IdempotencyKey(key=key, action=action, result=jsonable(result), created_at=now))


def customer_of(session: Session, order: OrderForm) -> Customer:
    if order.customer.id is None:
        raise LedgerError("customer.id: the order names no existing customer")
    return get_customer(session, order.customer.id)


def subscription_of(session: Session, subscription_id: str) -> Subscription:
    subscription = session.scalar(select(Subscription).where(Subscription.id == subscription_id))
    if subscription is None:
        raise NotFound(f"subscription {subscription_id!r} not found")
    return subscription
