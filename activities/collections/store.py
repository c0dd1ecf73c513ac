"""The ledger reads and writes that collections needs: account facts, promises to pay,
what the outbox holds and entitlement suspension. Each write is audited and idempotent."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from activities.billing.money import ZERO, is_rounded, minor_digits
from activities.collections.cadence import CadenceBook, CadenceError
from activities.collections.facts import AccountSnapshot, InvoiceFact, PromiseFact
from activities.collections.send_window import local_today, public_holidays
from activities.ledger import audit, locks
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError, check_amount
from activities.ledger.models import (
    BillingContact,
    Customer,
    Dispute,
    DisputedInvoice,
    DisputeStatus,
    Entitlement,
    EntitlementStatus,
    IdempotencyKey,
    Invoice,
    InvoiceStatus,
    OutboxEmail,
    Payment,
    PromiseStatus,
    PromiseToPay,
    Subscription,
    SubscriptionStatus,
)


def _disputed_invoice_ids() -> Select[Any]:
    return (
        select(DisputedInvoice.invoice_id)
        .join(Dispute, Dispute.id == DisputedInvoice.dispute_id)
        .where(Dispute.status == DisputeStatus.OPEN)
    )


def load_snapshot(
    session: Session, book: CadenceBook, customer_id: str, as_of: datetime
) -> AccountSnapshot:
    """Everything the cadence decides from: open invoices (disputed ones flagged), the
    account's overrides and timezone, its cadence, and its open promise to pay."""
    customer = get_customer(session, customer_id)
    disputed = set(session.scalars(_disputed_invoice_ids()))
    invoices = session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.balance > ZERO,
        )
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    try:
        cadence = book.cadence_for(customer.cadence, _contract_type(session, customer_id))
    except CadenceError as error:
        raise CadenceError(f"customer {customer_id}: {error}") from None
    promise = session.scalar(
        select(PromiseToPay)
        .where(PromiseToPay.customer_id == customer_id, PromiseToPay.status == PromiseStatus.OPEN)
        .order_by(PromiseToPay.id.desc())
    )
    return AccountSnapshot(
        customer_id=customer.id,
        legal_name=customer.legal_name,
        timezone=customer.timezone,
        country=customer.country,
        strategic=customer.strategic,
        account_owner=customer.account_owner,
        do_not_dun=customer.do_not_dun,
        paused_until=customer.dunning_paused_until,
        cadence=cadence,
        invoices=tuple(
            InvoiceFact(
                number=i.number or str(i.id),
                currency=i.currency,
                due_date=i.due_date,
                balance=i.balance,
                disputed=i.id in disputed,
            )
            for i in invoices
        ),
        open_promise=_promise_fact(promise) if promise else None,
        as_of=as_of,
        public_holidays=public_holidays(customer.country, (as_of.year, as_of.year + 1))
        if cadence.window.public_holidays
        else frozenset(),
        minor_digits={i.currency: minor_digits(i.currency) for i in invoices},
    )


def _contract_type(session: Session, customer_id: str) -> str | None:
    """The contract of the account's newest live subscription (annual invoiced wins a tie)."""
    types = session.scalars(
        select(Subscription.contract_type)
        .where(
            Subscription.customer_id == customer_id,
            Subscription.status != SubscriptionStatus.CANCELLED,
        )
        .order_by(Subscription.term_start.desc())
    ).all()
    if not types:
        return None
    values = {t.value for t in types}
    return "annual_invoiced" if "annual_invoiced" in values else types[0].value


def _promise_fact(promise: PromiseToPay) -> PromiseFact:
    return PromiseFact(
        id=promise.id,
        amount=promise.amount,
        currency=promise.currency,
        promised_date=promise.promised_date,
        grace_days=promise.grace_days,
        recorded_at=promise.recorded_at,
    )


def billing_emails(session: Session, customer_id: str) -> list[str]:
    """Where collections emails go: the primary billing contacts, else every contact."""
    contacts = session.scalars(
        select(BillingContact).where(BillingContact.customer_id == customer_id)
    ).all()
    primary = [c.email for c in contacts if c.primary]
    return primary or [c.email for c in contacts]


def record_promise(
    session: Session,
    *,
    customer_id: str,
    amount: Decimal,
    currency: str,
    promised_date: date,
    grace_days: int,
    actor: str,
    now: datetime,
    idempotency_key: str,
) -> PromiseFact:
    """Record a promise to pay; the same ``idempotency_key`` again returns the first promise.

    An account has at most one open promise: record a new one only after the
    open one is kept or broken.
    """
    key = f"promise:{idempotency_key}"
    # Every promise of the account queues on the customer's lock, so the one-open-promise
    # check below and the key's lookup see a promise recorded a moment ago by another writer.
    customer = locks.customer(session, customer_id)
    done = session.get(IdempotencyKey, key, populate_existing=True)
    if done is not None and done.result:
        existing = session.get(PromiseToPay, int(done.result["promise_id"]))
        assert existing is not None
        asked = (customer_id, amount, currency, promised_date, grace_days)
        if (
            existing.customer_id,
            existing.amount,
            existing.currency,
            existing.promised_date,
            existing.grace_days,
        ) != asked:
            raise LedgerError(
                f"idempotency_key: {idempotency_key!r} already recorded promise "
                f"#{existing.id} ({existing.amount} {existing.currency} by "
                f"{existing.promised_date} from {existing.customer_id}); refusing a different "
                "promise under it"
            )
        return _promise_fact(existing)
    if currency != customer.currency:
        raise LedgerError(
            f"currency: {customer_id} is billed in {customer.currency}, not {currency}"
        )
    check_amount("amount", amount)
    if amount <= ZERO or not is_rounded(amount, currency):
        raise LedgerError(f"amount: must be a positive {currency} amount, got {amount}")
    if promised_date < local_today(now, customer.timezone):
        raise LedgerError(f"promised_date: {promised_date} is in the past")
    if promised_date > local_today(now, customer.timezone) + timedelta(days=180):
        raise LedgerError(f"promised_date: {promised_date} is more than 180 days away")
    if not 0 <= grace_days <= 30:
        raise LedgerError(f"grace_days: must be between 0 and 30, got {grace_days}")
    open_promise = session.scalar(
        select(PromiseToPay).where(
            PromiseToPay.customer_id == customer_id, PromiseToPay.status == PromiseStatus.OPEN
        )
    )
    if open_promise is not None:
        raise LedgerError(
            f"customer {customer_id} already has an open promise to pay "
            f"(#{open_promise.id}, due {open_promise.promised_date}); wait until it is settled"
        )
    promise = PromiseToPay(
        customer_id=customer_id,
        currency=currency,
        amount=amount,
        promised_date=promised_date,
        grace_days=grace_days,
        status=PromiseStatus.OPEN,
        recorded_by=actor,
        recorded_at=now,
    )
    session.add(promise)
    session.flush()
    session.add(
        IdempotencyKey(
            key=key, action="promise.recorded", result={"promise_id": promise.id}, created_at=now
        )
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="promise.recorded",
        subject_type="customer",
        subject_id=customer_id,
        after={
            "promise_id": promise.id,
            "amount": amount,
            "currency": currency,
            "promised_date": promised_date,
            "grace_days": grace_days,
        },
    )
    return _promise_fact(promise)


def settle_promise(
    session: Session, promise_id: int, *, deadline: datetime, actor: str, now: datetime
) -> PromiseStatus:
    """Kept when the account paid at least the promised amount between the promise and the
    deadline, or owes nothing collectible any more; broken otherwise. Settling twice is a no-op."""
    found = session.get(PromiseToPay, promise_id)
    if found is None:
        raise LedgerError(f"promise_id: no promise #{promise_id}")
    # Decided under the customer's lock, which payments take too: the cadence at the
    # deadline and the cash that keeps the promise settle it once, the second finding it
    # settled, and the cash counted is all the cash committed.
    locks.customer(session, found.customer_id)
    promise = session.get(PromiseToPay, promise_id, populate_existing=True)
    assert promise is not None  # promises are never deleted
    if promise.status != PromiseStatus.OPEN:
        return promise.status
    paid = session.scalar(
        select(func.coalesce(func.sum(Payment.amount - Payment.refunded), 0)).where(
            Payment.customer_id == promise.customer_id,
            Payment.currency == promise.currency,
            Payment.received_at >= promise.recorded_at,
            Payment.received_at < deadline,
        )
    )
    paid_amount = Decimal(paid or 0)
    outstanding = session.scalar(
        select(func.count()).where(
            Invoice.customer_id == promise.customer_id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.balance > ZERO,
            Invoice.id.not_in(_disputed_invoice_ids()),
        )
    )
    kept = paid_amount >= promise.amount or not outstanding
    promise.status = PromiseStatus.KEPT if kept else PromiseStatus.BROKEN
    audit.record(
        session,
        at=now,
        actor=actor,
        action=f"promise.{promise.status.value}",
        subject_type="customer",
        subject_id=promise.customer_id,
        before={"promise_id": promise.id, "status": "open"},
        after={
            "status": promise.status,
            "paid_since_promise": paid_amount,
            "promised": promise.amount,
            "currency": promise.currency,
        },
    )
    return promise.status


def email_queued(session: Session, key: str) -> bool:
    """Whether an email is already in the outbox under ``key`` (sent or about to be)."""
    found = session.scalar(select(OutboxEmail.id).where(OutboxEmail.idempotency_key == key))
    return found is not None


#: What an IdempotencyKey row of a stored draft is called (its key starts ``draft:``).
DRAFT_ACTION = "collections.draft"


def saved_draft(session: Session, key: str) -> dict[str, Any] | None:
    """The draft stored under ``key`` before its step was approved, if there is one."""
    row = session.get(IdempotencyKey, key)
    return dict(row.result or {}) if row is not None and row.action == DRAFT_ACTION else None


def save_draft(session: Session, key: str, draft: dict[str, Any], now: datetime) -> None:
    """Store a draft under ``key``; a second writer of the same key fails on the primary key."""
    session.add(IdempotencyKey(key=key, action=DRAFT_ACTION, result=draft, created_at=now))
    session.flush()


def suspend_entitlements(
    session: Session, customer_id: str, *, actor: str, now: datetime, reason: str
) -> list[str]:
    """Suspend the account's active entitlements; already suspended ones stay as they are."""
    active = session.scalars(
        select(Entitlement).where(
            Entitlement.customer_id == customer_id,
            Entitlement.status == EntitlementStatus.ACTIVE,
        )
    ).all()
    for entitlement in active:
        entitlement.status = EntitlementStatus.SUSPENDED
        entitlement.updated_at = now
        audit.record(
            session,
            at=now,
            actor=actor,
            action="entitlement.suspended",
            subject_type="customer",
            subject_id=customer_id,
            before={"product": entitlement.product, "status": "active"},
            after={"product": entitlement.product, "status": "suspended"},
            reason=reason,
        )
    return [e.product for e in active]


def accounts_to_sweep(session: Session, today: date, lead_days: int) -> list[str]:
    """Accounts with an undisputed open invoice due by ``today + lead_days``, unless do-not-dun.

    Starting a cadence a day early is harmless (it waits for its first step);
    missing one is not, so the date test is generous across timezones.
    """
    horizon = today + timedelta(days=lead_days + 1)
    query = (
        select(Invoice.customer_id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.balance > ZERO,
            Invoice.due_date <= horizon,
            Invoice.id.not_in(_disputed_invoice_ids()),
            Customer.do_not_dun.is_(False),
        )
        .distinct()
        .order_by(Invoice.customer_id)
    )
    return list(session.scalars(query))
