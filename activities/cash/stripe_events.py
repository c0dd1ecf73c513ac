"""Stripe events turned into ledger changes, each exactly once.

The webhook (bot/stripe_webhook.py) verifies the signature; ``billing-ops stripe
replay`` feeds saved events. Both hand the event here, inside one ledger
transaction. Idempotency has two layers:

- the event id: the ``stripe_events`` row is inserted first (ON CONFLICT DO
  NOTHING), so a repeated delivery, even one racing the first, finds it and
  changes nothing;
- the processor's object id: ``payment_intent.succeeded``, ``charge.succeeded``
  and ``invoice.paid`` for one payment all carry the same payment intent, which
  is the payment's processor id in the ledger; refunds use the refund id,
  disputes the dispute id.

Out of order: a refund or a card dispute whose payment the ledger has not seen
yet is *parked* (``waits_for`` the payment's id) and applied when the payment
arrives; a payment from a Stripe customer nobody has linked to a customer yet is
parked until ``billing-ops stripe link``. So any order of delivery ends in the
same ledger.

Mapping to our records: ``metadata.invoice_number`` (and ``metadata.customer_id``)
that we set when creating the payment, else the Stripe customer id linked to a
customer. Metadata names an invoice; amounts always come from the event's amount
fields and the ledger's balances.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activities.billing.money import ZERO, check_currency, quantum
from activities.cash.store import insert_ignoring_duplicates, release_kept_promise
from activities.disputes.store import close_dispute, open_dispute
from activities.ledger import audit, locks
from activities.ledger.errors import LedgerError
from activities.ledger.models import (
    Customer,
    Dispute,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    PayerMapping,
    PayerMappingKind,
    Payment,
    PaymentApplication,
    Refund,
    StripeEvent,
    StripeEventStatus,
)
from activities.ledger.payments import (
    UNNAMED_STRIPE_REFUND,
    PaymentIn,
    PaymentResult,
    RefundIn,
    record_payment,
    refund_payment,
    reverse_refund,
)

ACTOR = "stripe"
PAID = ("payment_intent.succeeded", "charge.succeeded", "invoice.paid")
FAILED = ("payment_intent.payment_failed", "invoice.payment_failed")
DISPUTE = ("charge.dispute.created", "charge.dispute.closed")
#: A refund's own events; only a refund that failed (the money came back) changes the ledger.
REFUND_CHANGED = ("charge.refund.updated", "refund.updated", "refund.failed")
HANDLED = (*PAID, *FAILED, *DISPUTE, "charge.refunded", *REFUND_CHANGED)


@dataclass
class EventOutcome:
    """What one event did; the caller wakes the cadences after the transaction commits."""

    event_id: str
    status: str
    message: str
    customer_id: str | None = None
    payments: list[PaymentResult] = field(default_factory=list)
    account_changed: str | None = None
    released: list[EventOutcome] = field(default_factory=list)
    received_at: datetime | None = None

    def customers_to_wake(self) -> list[tuple[str, EventOutcome]]:
        woken = [(self.customer_id, self)] if self.customer_id and self._woke() else []
        for later in self.released:
            woken.extend(later.customers_to_wake())
        return [(c, o) for c, o in woken if c]

    def _woke(self) -> bool:
        return bool(self.account_changed or any(not p.already_recorded for p in self.payments))


class _Parked(Exception):
    def __init__(self, waits_for: str, message: str) -> None:
        super().__init__(message)
        self.waits_for = waits_for


def _str(value: Any, where: str) -> str:
    if isinstance(value, Mapping):
        value = value.get("id")
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise LedgerError(f"{where}: expected an id string")
    return value


def _optional_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value.strip() and len(value) <= 100 else None


def _money(minor: Any, currency: Any, where: str) -> tuple[Decimal, str]:
    if isinstance(minor, bool) or not isinstance(minor, int) or minor < 0:
        raise LedgerError(f"{where}: amount must be a non-negative integer of minor units")
    if not isinstance(currency, str):
        raise LedgerError(f"{where}: currency is missing")
    code = check_currency(currency.upper())
    return (Decimal(minor) * quantum(code)).quantize(quantum(code)), code


def _at(seconds: Any) -> datetime:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        raise LedgerError("created: expected a Unix timestamp")
    return datetime.fromtimestamp(seconds, UTC)


def handle_event(session: Session, event: Mapping[str, Any], now: datetime) -> EventOutcome:
    """Apply one Stripe event to the ledger (once); see the module docstring."""
    event_id = _str(event.get("id"), "id")
    kind = event.get("type")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(kind, str) or not isinstance(obj, Mapping):
        raise LedgerError("event: needs a type and data.object")
    object_id = _str(obj.get("id"), "data.object.id")
    created = _at(event.get("created"))
    inserted = insert_ignoring_duplicates(
        session,
        StripeEvent,
        [
            {
                "id": event_id,
                "type": kind[:64],
                "object_id": object_id,
                "status": StripeEventStatus.IGNORED.value,
                "outcome": "received",
                "payload": dict(obj),
                "created_at": created,
                "received_at": now,
            }
        ],
        ["id"],
    )
    if not inserted:
        _same_event(session, event_id, kind, object_id)
        return EventOutcome(event_id, "duplicate", "already received; nothing changed")
    row = session.get(StripeEvent, event_id)
    assert row is not None
    return _process(session, row, now)


def _same_event(session: Session, event_id: str, kind: str, object_id: str) -> None:
    """Refuse another event under an id the ledger holds (another type or object).

    A delivery again, or the same event saved and replayed, is that event (its object may
    be rendered in another API version, so only the type and the object's id are
    compared); anything else under its id would be answered "duplicate" while the money it
    moves never reaches the ledger."""
    held = session.execute(
        select(StripeEvent.type, StripeEvent.object_id).where(StripeEvent.id == event_id)
    ).one()
    if tuple(held) != (kind[:64], object_id):
        raise LedgerError(
            f"id: event {event_id} is already received as {held.type} of {held.object_id}; "
            f"refusing a different event ({kind} of {object_id}) under it"
        )


def _process(session: Session, row: StripeEvent, now: datetime) -> EventOutcome:
    outcome = EventOutcome(row.id, StripeEventStatus.IGNORED.value, "")
    # Held until commit, outside the savepoint (whose rollback would let them go before the
    # event is marked parked): an event parked for want of its payment or its customer's
    # link, and the payment or link that releases what is parked for it, queue here, so
    # the second sees the first. Stripe customer first, then the payment (locks.py).
    for name in _about(row.type, row.payload):
        locks.name(session, name)
    try:
        with session.begin_nested():
            _dispatch(session, row.type, row.payload, row.created_at, now, outcome)
    except _Parked as parked:
        row.status, row.waits_for = StripeEventStatus.PARKED, parked.waits_for
        outcome.status, outcome.message = row.status.value, str(parked)
    except LedgerError as refused:
        row.status, row.waits_for = StripeEventStatus.IGNORED, None
        outcome.status, outcome.message = row.status.value, f"refused: {refused}"
    else:
        row.status, row.waits_for = StripeEventStatus(outcome.status), None
    row.outcome = outcome.message
    row.customer_id = outcome.customer_id
    audit.record(
        session,
        at=now,
        actor=ACTOR,
        action="stripe.event",
        subject_type="stripe_event",
        subject_id=row.id[:64],
        after={"type": row.type, "status": row.status, "outcome": outcome.message},
    )
    return outcome


def _dispatch(
    session: Session,
    kind: str,
    obj: Mapping[str, Any],
    created: datetime,
    now: datetime,
    outcome: EventOutcome,
) -> None:
    if kind in PAID:
        _paid(session, kind, obj, created, now, outcome)
    elif kind == "charge.refunded":
        _refunded(session, obj, created, outcome)
    elif kind in REFUND_CHANGED:
        _refund_changed(session, obj, created, outcome)
    elif kind in FAILED:
        _failed(session, kind, obj, created, outcome)
    elif kind in DISPUTE:
        _dispute(session, kind, obj, created, outcome)
    else:
        outcome.message = f"{kind}: not an event billing-ops acts on"


def _customer(session: Session, obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(customer id, open invoice to pay first) from our metadata or the linked Stripe customer.

    An invoice named in the metadata counts only when it belongs to the customer the
    metadata and the Stripe customer link name (when they do)."""
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    named = metadata.get("invoice_number")
    claimed = metadata.get("customer_id")
    stripe_customer = _optional_id(obj.get("customer"))
    linked = None
    if stripe_customer is not None:
        linked = session.scalar(
            select(PayerMapping.customer_id).where(
                PayerMapping.kind == PayerMappingKind.STRIPE_CUSTOMER,
                PayerMapping.key == stripe_customer,
            )
        )
    if isinstance(named, str) and named:
        invoice = session.scalar(select(Invoice).where(Invoice.number == named))
        if (
            invoice is not None
            and claimed in (None, invoice.customer_id)
            and linked
            in (
                None,
                invoice.customer_id,
            )
        ):
            return invoice.customer_id, _payable(session, named)
    if linked is not None:
        return linked, None
    if isinstance(claimed, str) and session.get(Customer, claimed) is not None:
        return claimed, None
    return None, None


def _payable(session: Session, number: str | None) -> str | None:
    """``number`` while that invoice is open with a balance, as committed now; else ``None``.

    Read again once the customer is locked: an invoice another writer (a bank line, a
    credit note) paid meanwhile is not named to record_payment, which would refuse the
    whole payment, and the card's cash would never reach the ledger."""
    if number is None:
        return None
    invoice = session.scalar(
        select(Invoice).where(Invoice.number == number).execution_options(populate_existing=True)
    )
    payable = invoice is not None and invoice.status == InvoiceStatus.OPEN and invoice.balance > 0
    return number if payable else None


def _about(kind: str, obj: Mapping[str, Any]) -> list[str]:
    """What a parked event waits for (``waits_for``): the Stripe customer of a payment,
    then the payment an event records, refunds, disputes or takes a failed refund back on."""
    names: list[str] = []
    if kind in PAID:
        stripe_customer = _optional_id(obj.get("customer"))
        if stripe_customer is not None:
            names.append(_link(stripe_customer))
    if kind in PAID or kind == "charge.refunded":
        names.append(_payment_id(kind, obj) or "")
    elif kind in DISPUTE or kind in REFUND_CHANGED:
        names.append(
            _optional_id(obj.get("payment_intent")) or _optional_id(obj.get("charge")) or ""
        )
    return [name for name in names if name]


def _link(stripe_customer: str) -> str:
    """What a payment of an unlinked Stripe customer waits for."""
    return f"customer:{stripe_customer}"


def _payment_id(kind: str, obj: Mapping[str, Any]) -> str | None:
    """The payment's processor id: its payment intent, shared by every event about it."""
    if kind == "payment_intent.succeeded":
        return _optional_id(obj.get("id"))
    if kind == "invoice.paid":
        return _optional_id(obj.get("payment_intent")) or _optional_id(obj.get("charge"))
    return _optional_id(obj.get("payment_intent")) or _optional_id(obj.get("id"))


def _paid(
    session: Session,
    kind: str,
    obj: Mapping[str, Any],
    created: datetime,
    now: datetime,
    outcome: EventOutcome,
) -> None:
    processor_id = _payment_id(kind, obj)
    if processor_id is None:
        outcome.message = f"{kind}: no payment intent or charge (paid outside Stripe?)"
        return
    if kind == "charge.succeeded" and obj.get("captured") is False:
        outcome.message = "charge authorised, not captured: no cash yet"
        return
    minor = {
        "payment_intent.succeeded": obj.get("amount_received", obj.get("amount")),
        "invoice.paid": obj.get("amount_paid"),
        "charge.succeeded": obj.get("amount_captured", obj.get("amount")),
    }[kind]
    amount, currency = _money(minor, obj.get("currency"), kind)
    if amount == ZERO:
        outcome.message = "nothing was paid"
        return
    customer_id, invoice_number = _customer(session, obj)
    if customer_id is None:
        stripe_customer = _optional_id(obj.get("customer")) or "no customer"
        raise _Parked(
            _link(stripe_customer),
            f"no customer for Stripe customer {stripe_customer}: "
            "`billing-ops stripe link` it and the payment is applied",
        )
    outcome.customer_id = customer_id  # kept if the ledger refuses the payment
    # The invoice to pay first is decided under the customer's lock (the one every payment,
    # credit note and re-issue of the customer takes first): the card's cash is recorded
    # whoever paid that invoice a moment ago, on the next open invoice or as unapplied cash.
    locks.customer(session, customer_id)
    invoice_number = _payable(session, invoice_number)
    result = record_payment(
        session,
        PaymentIn(
            customer_id=customer_id,
            processor_id=processor_id,
            amount=amount,
            currency=currency,
            received_at=created,
            method="card",
            invoice_number=invoice_number,
        ),
        ACTOR,
    )
    outcome.received_at = created
    outcome.payments.append(result)
    outcome.status = StripeEventStatus.APPLIED.value
    outcome.message = (
        f"payment {processor_id} already recorded"
        if result.already_recorded
        else f"payment {processor_id} of {amount} {currency} applied to "
        f"{', '.join(a.invoice_number for a in result.applications) or 'no invoice'}"
    )
    if not result.already_recorded:
        release_kept_promise(session, customer_id, ACTOR, now)
    outcome.released = release_parked(session, processor_id, now)


def release_parked(session: Session, waits_for: str, now: datetime) -> list[EventOutcome]:
    """Apply the events parked until ``waits_for`` (a payment, or a linked Stripe customer)."""
    parked = session.scalars(
        select(StripeEvent)
        .where(StripeEvent.waits_for == waits_for, StripeEvent.status == StripeEventStatus.PARKED)
        .order_by(StripeEvent.created_at, StripeEvent.id)
    ).all()
    return [_process(session, row, now) for row in parked]


def _payment(session: Session, processor_id: str, what: str) -> Payment:
    payment = session.scalar(select(Payment).where(Payment.processor_id == processor_id))
    if payment is None:
        raise _Parked(processor_id, f"{what} before its payment {processor_id}: parked until it")
    return payment


def _refunded(
    session: Session, obj: Mapping[str, Any], created: datetime, outcome: EventOutcome
) -> None:
    """Bring the payment's refunded total up to the charge's ``amount_refunded``, never past it.

    Stripe sends one ``charge.refunded`` per refund, each carrying the charge's cumulative
    ``amount_refunded`` and (on older API versions, at most one page of) its refunds. Events
    for one charge arrive concurrently and out of order, and a change of API version can mix
    listed and unlisted ones, so the cumulative figure is the fact and the listed refunds only
    name its parts: under the payment's row lock, each listed refund not yet recorded is
    recorded while it fits in what the ledger lacks, and whatever the list does not name is
    recorded as one refund keyed by the total it brings the payment to.

    A lost card dispute is money the bank took back, not a refund: it is in the ledger's
    refunded total but never in ``amount_refunded``, so it is left out of the comparison.
    A refund that failed after the charge was rendered still counts in its
    ``amount_refunded`` (an event is a snapshot, and it can be delivered after the
    failure's): what the ledger holds is compared with the charge as it was then, the
    failures recorded since added back, so a late event never records a failed refund again.
    """
    processor_id = _payment_id("charge.refunded", obj)
    assert processor_id is not None
    found = _payment(session, processor_id, "refund")
    outcome.customer_id = found.customer_id  # kept if refused: `stripe events --customer`
    locks.customer(session, found.customer_id)
    payment = locks.payment(session, found.id)  # a second event for this charge waits here
    total, currency = _money(obj.get("amount_refunded"), obj.get("currency"), "amount_refunded")
    _same_currency(payment, currency, "amount_refunded")
    failed_since = session.scalar(
        select(func.sum(Refund.amount)).where(
            Refund.payment_id == payment.id, Refund.amount < ZERO, Refund.refunded_at >= created
        )
    )
    missing = total - _refunded_by_stripe(session, payment) + (failed_since or ZERO)
    done: list[str] = []
    refunds = obj.get("refunds")
    listed = refunds.get("data") if isinstance(refunds, Mapping) else None
    for refund in listed if isinstance(listed, list) else []:
        if not isinstance(refund, Mapping) or refund.get("status") not in ("succeeded", "pending"):
            continue
        refund_id = _str(refund.get("id"), "refund.id")
        amount, currency = _money(refund.get("amount"), refund.get("currency", currency), "refund")
        _same_currency(payment, currency, "refund")
        if session.scalar(select(Refund.id).where(Refund.processor_id == refund_id)) is not None:
            done.append(f"{refund_id} again")
        elif amount <= missing:
            _record_refund(
                session,
                refund_id,
                payment,
                amount,
                f"Stripe refund {refund_id}",
                _at(refund.get("created", int(created.timestamp()))),
            )
            missing -= amount
            done.append(f"{refund_id} {amount}")
    if missing > ZERO:
        charge = _str(obj.get("id"), "charge.id")
        key = f"{charge}{UNNAMED_STRIPE_REFUND}{obj.get('amount_refunded')}"
        _record_refund(session, key[:100], payment, missing, "Stripe refund", created)
        done.append(f"{missing}")
    outcome.status = StripeEventStatus.APPLIED.value
    outcome.account_changed = "card payment refunded"
    outcome.message = f"refunds on {processor_id}: {', '.join(done) or 'none new'}"


def _refunded_by_stripe(session: Session, payment: Payment) -> Decimal:
    """The payment's refunded total as Stripe's ``amount_refunded`` counts it: without the
    lost card disputes (``_dispute`` records each as a refund keyed by the dispute's id)."""
    disputes = [
        dispute_id.removeprefix("STRIPE-")
        for dispute_id in session.scalars(
            select(Dispute.id).where(
                Dispute.customer_id == payment.customer_id, Dispute.id.like("STRIPE-%")
            )
        )
    ]
    lost = session.scalar(
        select(func.sum(Refund.amount)).where(
            Refund.payment_id == payment.id, Refund.processor_id.in_(disputes)
        )
    )
    return payment.refunded - (lost or ZERO)


def _refund_changed(
    session: Session, obj: Mapping[str, Any], created: datetime, outcome: EventOutcome
) -> None:
    """A refund that failed: its money is back with us, so the ledger takes the refund back.

    Stripe reports it twice (``charge.refund.updated`` and, on newer API versions,
    ``refund.failed``): the failure is keyed by the refund's id, so the second changes
    nothing. It may also arrive before the ``charge.refunded`` that announced the
    refund: then the refund is recorded first, from the refund object, and taken back at
    once (``_refunded`` then knows it failed). If the ledger already holds at least the
    amount as refunded, the refund is in it under the charge's cumulative key and is
    taken back from that.
    """
    refund_id = _str(obj.get("id"), "refund.id")
    status = obj.get("status")
    if status != "failed":
        outcome.message = f"refund {refund_id} is {status!r}: nothing to do"
        return
    processor_id = _optional_id(obj.get("payment_intent")) or _str(obj.get("charge"), "charge")
    found = _payment(session, processor_id, "failed refund")
    outcome.customer_id = found.customer_id  # kept if refused: `stripe events --customer`
    locks.customer(session, found.customer_id)
    payment = locks.payment(session, found.id)
    amount, currency = _money(obj.get("amount"), obj.get("currency"), "refund")
    _same_currency(payment, currency, "refund")
    reason = obj.get("failure_reason")
    reason = reason if isinstance(reason, str) and reason.isidentifier() else "unknown"
    recorded = session.scalar(select(Refund.id).where(Refund.processor_id == refund_id))
    if recorded is None and _refunded_by_stripe(session, payment) < amount:
        _record_refund(
            session,
            refund_id,
            payment,
            amount,
            f"Stripe refund {refund_id}",
            _at(obj.get("created", int(created.timestamp()))),
        )
    result = reverse_refund(
        session,
        RefundIn(
            f"{refund_id}:failed",
            processor_id,
            amount,
            f"Stripe refund {refund_id} failed ({reason}): the money came back",
            created,
        ),
        ACTOR,
    )
    outcome.status = StripeEventStatus.APPLIED.value
    if result.already_recorded:
        outcome.message = f"refund {refund_id} failed: already taken back"
        return
    paid = ", ".join(f"{a.invoice_number} {a.amount}" for a in result.applications)
    outcome.account_changed = f"card refund failed ({reason}): the money came back"
    outcome.message = (
        f"refund {refund_id} failed ({reason}): {amount} {currency} back on {processor_id}"
        + (f", applied to {paid}" if paid else ", held as unapplied cash")
    )


def _same_currency(payment: Payment, currency: str, where: str) -> None:
    if currency != payment.currency:
        raise LedgerError(
            f"{where}: in {currency}, but payment {payment.processor_id} is in {payment.currency}"
        )


def _record_refund(
    session: Session, key: str, payment: Payment, amount: Decimal, reason: str, at: datetime
) -> None:
    refund_payment(
        session, RefundIn(key, payment.processor_id, amount, reason, at), ACTOR, from_stripe=True
    )


def _failed(
    session: Session,
    kind: str,
    obj: Mapping[str, Any],
    created: datetime,
    outcome: EventOutcome,
) -> None:
    customer_id, _ = _customer(session, obj)
    if customer_id is None:
        outcome.message = "failed payment of a Stripe customer nobody is linked to"
        return
    error = obj.get("last_payment_error")
    error = error if isinstance(error, Mapping) else {}
    code = error.get("decline_code") or error.get("code") or "declined"
    code = code if isinstance(code, str) and code.isidentifier() else "declined"
    minor = obj.get("amount_due", obj.get("amount"))
    amount, currency = _money(minor, obj.get("currency"), kind)
    audit.record(
        session,
        at=created,
        actor=ACTOR,
        action="payment.failed",
        subject_type="customer",
        subject_id=customer_id,
        after={"object": obj.get("id"), "amount": amount, "currency": currency, "code": code},
    )
    outcome.customer_id = customer_id
    outcome.status = StripeEventStatus.RECORDED.value
    outcome.account_changed = f"card payment failed ({code}): ask for a new card"
    outcome.message = f"failed payment of {amount} {currency} recorded ({code})"


def _dispute(
    session: Session,
    kind: str,
    obj: Mapping[str, Any],
    created: datetime,
    outcome: EventOutcome,
) -> None:
    stripe_id = _str(obj.get("id"), "dispute.id")
    processor_id = _optional_id(obj.get("payment_intent")) or _str(obj.get("charge"), "charge")
    payment = _payment(session, processor_id, "card dispute")
    dispute_id = f"STRIPE-{stripe_id}"[:40]
    outcome.customer_id = payment.customer_id
    outcome.status = StripeEventStatus.RECORDED.value
    # The dispute's events arrive concurrently too: the one that finds no dispute opens it
    # while the others wait here, then find it (a closing event must not be refused as
    # "already disputed", or a lost chargeback's money would never leave the ledger).
    locks.customer(session, payment.customer_id)
    if session.get(Dispute, dispute_id, populate_existing=True) is None:
        invoices = _paid_invoices(session, payment)
        if not invoices:
            outcome.message = f"card dispute {stripe_id}: the payment is on no invoice to hold"
            return
        reason = obj.get("reason") if isinstance(obj.get("reason"), str) else "unspecified"
        open_dispute(
            session,
            dispute_id=dispute_id,
            customer_id=payment.customer_id,
            invoice_numbers=invoices,
            claim=f"card dispute {stripe_id} ({reason})",
            opened_by=ACTOR,
            at=created,
        )
        outcome.message = f"dispute {dispute_id} opened, holding {', '.join(invoices)}"
        outcome.account_changed = "card dispute opened"
    if kind == "charge.dispute.closed":
        status = obj.get("status")
        if status == "lost":
            amount, currency = _money(obj.get("amount"), obj.get("currency"), "dispute")
            _same_currency(payment, currency, "dispute")
            refund_payment(
                session,
                RefundIn(stripe_id, processor_id, amount, "card dispute lost", created),
                ACTOR,
                from_stripe=True,
            )
            close_dispute(
                session,
                dispute_id,
                DisputeStatus.RESOLVED,
                ACTOR,
                "card dispute lost: the bank returned the money to the cardholder",
                created,
            )
        elif status == "won":
            close_dispute(
                session,
                dispute_id,
                DisputeStatus.REJECTED,
                ACTOR,
                "card dispute won: the payment stands",
                created,
            )
        elif status == "warning_closed":
            close_dispute(
                session,
                dispute_id,
                DisputeStatus.WITHDRAWN,
                ACTOR,
                "inquiry closed without a chargeback",
                created,
            )
        else:
            outcome.message = f"card dispute {stripe_id} closed as {status!r}: nothing to do"
            return
        outcome.message = f"dispute {dispute_id} closed ({status})"
        outcome.account_changed = f"card dispute {status}"


def _paid_invoices(session: Session, payment: Payment) -> list[str]:
    rows = session.execute(
        select(Invoice.number)
        .join(PaymentApplication, PaymentApplication.invoice_id == Invoice.id)
        .where(PaymentApplication.payment_id == payment.id)
        .group_by(Invoice.number)
        .having(func.sum(PaymentApplication.amount) > 0)
        .order_by(Invoice.number)
    ).scalars()
    return [n for n in rows if n]


def link_customer(
    session: Session, stripe_customer: str, customer_id: str, actor: str, now: datetime
) -> list[EventOutcome]:
    """Link a Stripe customer to ours, then apply the payments parked for want of it."""
    if session.get(Customer, customer_id) is None:
        raise LedgerError(f"customer {customer_id!r} not found")
    if not stripe_customer.startswith("cus_"):
        raise LedgerError(f"stripe customer: {stripe_customer!r} is not a Stripe customer id")
    # A payment parked for want of this link right now is committed before this lock, and
    # found below, or waits behind it and then finds the link (see _process).
    locks.name(session, _link(stripe_customer))
    existing = session.scalar(
        select(PayerMapping.customer_id).where(
            PayerMapping.kind == PayerMappingKind.STRIPE_CUSTOMER,
            PayerMapping.key == stripe_customer,
        )
    )
    if existing not in (None, customer_id):
        raise LedgerError(f"stripe customer: {stripe_customer} is already linked to {existing}")
    if existing is None:
        session.add(
            PayerMapping(
                kind=PayerMappingKind.STRIPE_CUSTOMER,
                key=stripe_customer,
                customer_id=customer_id,
                learned_by=actor,
                learned_at=now,
            )
        )
        audit.record(
            session,
            at=now,
            actor=actor,
            action="stripe.customer_linked",
            subject_type="customer",
            subject_id=customer_id,
            after={"stripe": stripe_customer},
        )
        session.flush()
    return release_parked(session, _link(stripe_customer), now)
