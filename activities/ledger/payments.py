"""Cash in and out: recording payments, applying them to invoices, and refunds.

A payment is applied to the invoice the customer named, then to the oldest
open invoice in the payment's currency (by due date), skipping invoices in
an open dispute; what is left is an overpayment kept as unapplied cash or
turned into account credit. The processor's id makes recording idempotent:
the same payment posted twice (a webhook retry, a replayed activity) is
applied once, also when both copies arrive at the same instant (the loser of
the race on the unique key gets the first one back as already recorded).

Balances move under row locks taken in the ledger's one fixed order
(activities/ledger/locks.py): customer, payment, invoices by ascending id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from activities.billing.money import ZERO, check_currency, is_rounded, round_money
from activities.ledger import audit, locks
from activities.ledger.errors import (
    LedgerError,
    NotFound,
    check_amount,
    check_length,
    constraint_name,
)
from activities.ledger.models import (
    CreditNote,
    CreditNoteKind,
    Customer,
    Dispute,
    DisputedInvoice,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentApplication,
    Refund,
)
from activities.ledger.numbering import next_number

Overpayment = Literal["unapplied", "account_credit"]


@dataclass(frozen=True, slots=True)
class PaymentIn:
    customer_id: str
    processor_id: str
    amount: Decimal
    currency: str
    received_at: datetime
    method: str = "wire"
    invoice_number: str | None = None
    overpayment: Overpayment = "unapplied"


@dataclass(frozen=True, slots=True)
class Application:
    invoice_number: str
    amount: Decimal
    balance_after: Decimal


@dataclass(frozen=True, slots=True)
class PaymentResult:
    processor_id: str
    customer_id: str
    currency: str
    amount: Decimal
    applications: tuple[Application, ...]
    unapplied: Decimal
    account_credit: Decimal
    already_recorded: bool

    @property
    def paid_invoices(self) -> tuple[str, ...]:
        return tuple(a.invoice_number for a in self.applications if a.balance_after == ZERO)


def record_payment(session: Session, payment_in: PaymentIn, actor: str) -> PaymentResult:
    """Record a payment and apply it; recording the same processor id again changes nothing."""
    _validate(payment_in)
    existing = _recorded(session, payment_in.processor_id)
    if existing is not None:
        return _replay(session, existing, payment_in)
    customer = locks.customer(session, payment_in.customer_id)
    if payment_in.currency != customer.currency:
        # Cash in another currency has no invoice to settle and no rate to convert at:
        # held as unapplied cash it would sit in the wrong currency's AR.
        raise LedgerError(
            f"currency: {customer.id} is billed in {customer.currency}; a payment in "
            f"{payment_in.currency} is refused (payments are recorded in the account's currency)"
        )
    payment = Payment(
        processor_id=payment_in.processor_id,
        customer_id=customer.id,
        currency=payment_in.currency,
        amount=payment_in.amount,
        unapplied=payment_in.amount,
        refunded=ZERO,
        method=payment_in.method,
        received_at=payment_in.received_at,
    )
    try:
        with session.begin_nested():  # a racing copy of this payment may commit first
            session.add(payment)
    except IntegrityError as error:
        if constraint_name(error) != "uq_payments_processor_id":
            raise
        existing = _recorded(session, payment_in.processor_id)
        assert existing is not None  # the unique key just said so
        return _replay(session, existing, payment_in)
    audit.record(
        session,
        at=payment_in.received_at,
        actor=actor,
        action="payment.received",
        subject_type="payment",
        subject_id=payment.processor_id,
        after={"customer_id": customer.id, "amount": payment.amount, "currency": payment.currency},
    )
    targets = _targets(
        session, payment_in.customer_id, payment_in.currency, payment_in.invoice_number
    )
    applications = _apply_all(session, payment, targets, actor, payment.received_at)
    credit = ZERO
    if payment.unapplied > ZERO and payment_in.overpayment == "account_credit":
        credit = _to_account_credit(session, payment, actor)
    return PaymentResult(
        processor_id=payment.processor_id,
        customer_id=payment.customer_id,
        currency=payment.currency,
        amount=payment.amount,
        applications=tuple(applications),
        unapplied=payment.unapplied,
        account_credit=credit,
        already_recorded=False,
    )


def _recorded(session: Session, processor_id: str) -> Payment | None:
    """The payment recorded under ``processor_id``, as committed now."""
    return session.scalar(
        select(Payment)
        .where(Payment.processor_id == processor_id)
        .execution_options(populate_existing=True)
    )


def _validate(payment_in: PaymentIn) -> None:
    check_currency(payment_in.currency)
    check_amount("amount", payment_in.amount)
    if payment_in.amount <= ZERO:
        raise LedgerError(f"amount: must be positive, got {payment_in.amount}")
    if not is_rounded(payment_in.amount, payment_in.currency):
        raise LedgerError(
            f"amount: {payment_in.amount} has more decimals than {payment_in.currency} allows"
        )
    if not payment_in.processor_id.strip():
        raise LedgerError("processor_id: required, it makes recording the payment idempotent")
    check_length("processor_id", payment_in.processor_id, Payment.processor_id)
    check_length("customer_id", payment_in.customer_id, Customer.id)
    check_length("method", payment_in.method, Payment.method)
    if payment_in.received_at.tzinfo is None:
        raise LedgerError("received_at: must be timezone-aware")


def _replay(session: Session, payment: Payment, payment_in: PaymentIn) -> PaymentResult:
    if (payment.customer_id, payment.amount, payment.currency) != (
        payment_in.customer_id,
        payment_in.amount,
        payment_in.currency,
    ):
        raise LedgerError(
            f"processor_id: {payment.processor_id!r} is already recorded as "
            f"{payment.amount} {payment.currency} from {payment.customer_id}; "
            "refusing a different one"
        )
    applications = tuple(
        Application(a.invoice.number or "", a.amount, a.invoice.balance)
        for a in _applications(session, payment)
    )
    credit = overpayment_credit(session, payment)
    return PaymentResult(
        processor_id=payment.processor_id,
        customer_id=payment.customer_id,
        currency=payment.currency,
        amount=payment.amount,
        applications=applications,
        unapplied=payment.unapplied,
        account_credit=credit,
        already_recorded=True,
    )


def _targets(
    session: Session, customer_id: str, currency: str, invoice_number: str | None = None
) -> list[Invoice]:
    """The named invoice first, then the oldest open undisputed invoices in the currency."""
    targets: list[Invoice] = []
    if invoice_number:
        named = session.scalar(select(Invoice).where(Invoice.number == invoice_number))
        if named is None or named.customer_id != customer_id:
            raise NotFound(f"invoice_number: {invoice_number!r} is not an invoice of {customer_id}")
        if named.status != InvoiceStatus.OPEN:
            raise LedgerError(
                f"invoice_number: {named.number} is {named.status.value}, only open invoices "
                "take payments"
            )
        if named.currency != currency:
            raise LedgerError(
                f"currency: invoice {named.number} is in {named.currency}, "
                f"the payment in {currency}"
            )
        targets.append(named)
    disputed = (
        select(DisputedInvoice.invoice_id)
        .join(Dispute, Dispute.id == DisputedInvoice.dispute_id)
        .where(Dispute.status == DisputeStatus.OPEN)
    )
    oldest_first = session.scalars(
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.currency == currency,
            Invoice.balance > ZERO,
            Invoice.id.not_in(disputed),
        )
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    targets.extend(i for i in oldest_first if i not in targets)
    return targets


def _apply_all(
    session: Session, payment: Payment, targets: list[Invoice], actor: str, at: datetime
) -> list[Application]:
    """Spend the payment's unapplied cash on ``targets`` in order, under their row locks."""
    locks.invoices(session, (invoice.id for invoice in targets))
    return [
        _apply(session, payment, invoice, actor, at)
        for invoice in targets
        if payment.unapplied > ZERO and invoice.balance > ZERO
    ]


def _apply(
    session: Session, payment: Payment, invoice: Invoice, actor: str, at: datetime
) -> Application:
    amount = min(payment.unapplied, invoice.balance)
    before = {"balance": invoice.balance, "status": invoice.status}
    payment.unapplied -= amount
    invoice.balance -= amount
    if invoice.balance == ZERO:
        invoice.status = InvoiceStatus.PAID
    session.add(
        PaymentApplication(
            payment_id=payment.id,
            invoice_id=invoice.id,
            amount=amount,
            applied_at=at,
        )
    )
    audit.record(
        session,
        at=at,
        actor=actor,
        action="payment.applied",
        subject_type="invoice",
        subject_id=invoice.number or invoice.id,
        before=before,
        after={
            "balance": invoice.balance,
            "status": invoice.status,
            "amount": amount,
            "payment": payment.processor_id,
        },
    )
    return Application(invoice.number or "", amount, invoice.balance)


def _overpayment_key(processor_id: str) -> str:
    return f"overpayment:{processor_id}"


def _to_account_credit(session: Session, payment: Payment, actor: str) -> Decimal:
    amount = payment.unapplied
    payment.unapplied = ZERO
    note = CreditNote(
        number=next_number(session, "CN"),
        idempotency_key=_overpayment_key(payment.processor_id),
        customer_id=payment.customer_id,
        invoice_id=None,
        kind=CreditNoteKind.ACCOUNT_CREDIT,
        currency=payment.currency,
        amount=amount,
        unapplied=amount,
        reason=f"overpayment of {payment.processor_id}",
        issued_at=payment.received_at,
    )
    session.add(note)
    audit.record(
        session,
        at=payment.received_at,
        actor=actor,
        action="payment.overpayment_to_credit",
        subject_type="customer",
        subject_id=payment.customer_id,
        after={"credit_note": note.number, "amount": amount, "currency": payment.currency},
    )
    return amount


def overpayment_credit(session: Session, payment: Payment) -> Decimal:
    """What of the payment became account credit (:func:`_to_account_credit`)."""
    amount = session.scalar(
        select(CreditNote.amount).where(
            CreditNote.idempotency_key == _overpayment_key(payment.processor_id)
        )
    )
    return amount or ZERO


def _applications(session: Session, payment: Payment) -> list[PaymentApplication]:
    """The payment's applications as committed now (the cached collection may be stale)."""
    return list(
        session.scalars(
            select(PaymentApplication)
            .where(PaymentApplication.payment_id == payment.id)
            .order_by(PaymentApplication.id)
        )
    )


def _net_applications(session: Session, payment: Payment) -> list[tuple[Invoice, Decimal]]:
    """What the payment still has on each invoice, in the order it was first applied."""
    net: dict[int, tuple[Invoice, Decimal]] = {}
    for application in _applications(session, payment):
        invoice, amount = net.get(application.invoice_id, (application.invoice, ZERO))
        net[application.invoice_id] = (invoice, amount + application.amount)
    return [(invoice, amount) for invoice, amount in net.values() if amount > ZERO]


@dataclass(frozen=True, slots=True)
class RefundIn:
    processor_id: str
    payment_processor_id: str
    amount: Decimal
    reason: str
    refunded_at: datetime


@dataclass(frozen=True, slots=True)
class RefundResult:
    processor_id: str
    amount: Decimal
    currency: str
    reopened_invoices: tuple[str, ...]
    already_recorded: bool


#: Stripe's ids of payment intents and charges: the processor ids of payments Stripe collected.
STRIPE_PAYMENT_PREFIXES = ("pi_", "ch_", "py_")
#: Stripe's ids of refunds.
STRIPE_REFUND_PREFIXES = ("re_", "pyr_")
#: In the key of a refund that a ``charge.refunded`` event announced without naming it
#: (activities/cash/stripe_events.py): ``<charge>:refunded-to:<amount_refunded>``.
UNNAMED_STRIPE_REFUND = ":refunded-to:"


def refund_payment(
    session: Session, refund_in: RefundIn, actor: str, *, from_stripe: bool = False
) -> RefundResult:
    """Refund part or all of a payment: unapplied cash first, then the newest applications.

    Refunding cash that paid an invoice re-opens that invoice for the amount. A refund of
    a payment Stripe collected that is not reported by Stripe (``from_stripe``) is
    recorded from the product only as the Stripe refund it is (:func:`_check_stripe_refund`).
    """
    payment, existing = _locked_for_refund(session, refund_in, refund_in.amount)
    if existing is not None:
        return RefundResult(existing.processor_id, existing.amount, existing.currency, (), True)
    if not from_stripe and collected_by_stripe(payment):
        _check_stripe_refund(session, payment, refund_in.processor_id)
    # What an overpayment put on the account is credit the customer can spend, no longer
    # cash of this payment: refunding it too would give the same money back twice.
    to_credit = overpayment_credit(session, payment)
    refundable = payment.amount - payment.refunded - to_credit
    if refund_in.amount > refundable:
        became = (
            f"; {to_credit} {payment.currency} of it became account credit" if to_credit else ""
        )
        raise LedgerError(
            f"amount: {refund_in.amount} exceeds what is refundable on "
            f"{payment.processor_id} ({refundable} {payment.currency}{became})"
        )
    if not refund_in.reason.strip():
        raise LedgerError("reason: a refund needs a reason for the audit log")
    remaining = refund_in.amount
    from_unapplied = min(payment.unapplied, remaining)
    payment.unapplied -= from_unapplied
    remaining -= from_unapplied
    reopened: list[str] = []
    net = _net_applications(session, payment)
    locks.invoices(session, (invoice.id for invoice, _ in net))
    for invoice, applied in reversed(net):
        if remaining == ZERO:
            break
        take = min(applied, remaining)
        invoice.balance += take
        invoice.status = InvoiceStatus.OPEN
        session.add(
            PaymentApplication(
                payment_id=payment.id,
                invoice_id=invoice.id,
                amount=-take,
                applied_at=refund_in.refunded_at,
            )
        )
        remaining -= take
        reopened.append(invoice.number or str(invoice.id))
    payment.refunded += refund_in.amount
    _book_refund(
        session,
        payment,
        refund_in,
        refund_in.amount,
        actor,
        "payment.refunded",
        {"refund": refund_in.processor_id, "amount": refund_in.amount, "reopened": reopened},
    )
    return RefundResult(
        refund_in.processor_id, refund_in.amount, payment.currency, tuple(reopened), False
    )


def collected_by_stripe(payment: Payment) -> bool:
    """A card payment under a Stripe payment intent or charge id, as Stripe's events record
    them (activities/cash/stripe_events.py): its refunds are Stripe's to report."""
    return payment.method == "card" and payment.processor_id.startswith(STRIPE_PAYMENT_PREFIXES)


def _check_stripe_refund(session: Session, payment: Payment, refund_id: str) -> None:
    """Refuse a refund of a Stripe payment the product cannot tie to Stripe's own record.

    Stripe's ``charge.refunded`` events bring the payment's refunded total up to the
    charge's ``amount_refunded``, each refund under its id (activities/cash/stripe_events.py).
    A refund recorded here under another id would be counted again when Stripe reports
    it, or, counted as Stripe's, would hide a later refund Stripe really made; so it is
    recorded under its Stripe refund id, which the events then recognise. Where an event
    has already recorded refunds of this payment without their ids, that refund may be
    one of them: it is left to Stripe's events, which record it if it is new. Called
    under the payment's lock, where Stripe's events decide too.
    """
    if not refund_id.startswith(STRIPE_REFUND_PREFIXES):
        raise LedgerError(
            f"processor_id: payment {payment.processor_id} was collected by Stripe; refund "
            f"it in Stripe and record it under its Stripe refund id (re_...), or let "
            f"Stripe's charge.refunded event record it (got {refund_id!r})"
        )
    unnamed = session.scalar(
        select(func.sum(Refund.amount)).where(
            Refund.payment_id == payment.id,
            Refund.processor_id.contains(UNNAMED_STRIPE_REFUND, autoescape=True),
        )
    )
    if unnamed:
        raise LedgerError(
            f"processor_id: Stripe reported {unnamed} {payment.currency} of refunds of "
            f"{payment.processor_id} without their ids, which may include {refund_id}; "
            "Stripe's charge.refunded event records it if it is new (nothing changed)"
        )


def _locked_for_refund(
    session: Session, entry: RefundIn, signed: Decimal
) -> tuple[Payment, Refund | None]:
    """The payment ``entry`` names, locked (customer, then payment), and the refund row
    already recorded under ``entry.processor_id`` if this is a replay; a replay of another
    payment or amount (``signed``: negative for a failed refund) is refused."""
    check_length("processor_id", entry.processor_id, Refund.processor_id)
    if entry.refunded_at.tzinfo is None:
        raise LedgerError("refunded_at: must be timezone-aware")
    check_length("payment_processor_id", entry.payment_processor_id, Payment.processor_id)
    found = session.scalar(
        select(Payment).where(Payment.processor_id == entry.payment_processor_id)
    )
    if found is None:
        raise NotFound(f"payment_processor_id: no payment {entry.payment_processor_id!r}")
    locks.customer(session, found.customer_id)
    payment = locks.payment(session, found.id)
    existing = session.scalar(select(Refund).where(Refund.processor_id == entry.processor_id))
    if existing is not None:
        if (existing.payment_id, existing.amount) != (payment.id, signed):
            raise LedgerError(
                f"processor_id: refund {entry.processor_id!r} is already recorded "
                f"as {existing.amount} {existing.currency}; refusing a different one"
            )
        return payment, existing
    check_amount("amount", entry.amount)
    if entry.amount <= ZERO or round_money(entry.amount, payment.currency) != entry.amount:
        raise LedgerError(f"amount: must be a positive {payment.currency} amount")
    return payment, None


def _book_refund(
    session: Session,
    payment: Payment,
    entry: RefundIn,
    signed: Decimal,
    actor: str,
    action: str,
    after: dict[str, object],
) -> None:
    """The refund row (``signed``: negative for a failed refund) and its audit entry."""
    session.add(
        Refund(
            processor_id=entry.processor_id,
            payment_id=payment.id,
            currency=payment.currency,
            amount=signed,
            reason=entry.reason,
            refunded_at=entry.refunded_at,
        )
    )
    audit.record(
        session,
        at=entry.refunded_at,
        actor=actor,
        action=action,
        subject_type="payment",
        subject_id=payment.processor_id,
        after=after,
        reason=entry.reason,
    )


@dataclass(frozen=True, slots=True)
class ReversalResult:
    processor_id: str
    amount: Decimal
    currency: str
    applications: tuple[Application, ...]
    already_recorded: bool


def reverse_refund(session: Session, reversal: RefundIn, actor: str) -> ReversalResult:
    """Take back a refund that failed: the cash is the payment's again, and pays open invoices.

    ``reversal.processor_id`` keys the failure (recording it again changes nothing) and
    ``reversal.amount`` is what came back. It is stored as a refund row of the opposite
    sign dated when it failed (see ``Refund``), the payment's refunded total goes down by
    it, and the cash is applied like a payment received now: to the invoice the refund
    had re-opened or any other open one, oldest first, the rest left unapplied.
    """
    payment, existing = _locked_for_refund(session, reversal, -reversal.amount)
    if existing is not None:
        return ReversalResult(reversal.processor_id, reversal.amount, payment.currency, (), True)
    if reversal.amount > payment.refunded:
        raise LedgerError(
            f"amount: {reversal.amount} exceeds what is refunded on "
            f"{payment.processor_id} ({payment.refunded} {payment.currency})"
        )
    if not reversal.reason.strip():
        raise LedgerError("reason: a failed refund needs a reason for the audit log")
    payment.refunded -= reversal.amount
    payment.unapplied += reversal.amount
    _book_refund(
        session,
        payment,
        reversal,
        -reversal.amount,
        actor,
        "payment.refund_failed",
        {"refund": reversal.processor_id, "amount": reversal.amount},
    )
    targets = _targets(session, payment.customer_id, payment.currency)
    applied = _apply_all(session, payment, targets, actor, reversal.refunded_at)
    return ReversalResult(
        reversal.processor_id, reversal.amount, payment.currency, tuple(applied), False
    )
