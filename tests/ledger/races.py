"""Races between processes: N writer processes released together by a barrier, round after round.

Each case books its own customers and invoices up front (one set per round),
then every worker does its part of round ``r`` at the same instant as the
others, through the store API, in its own process and its own connection.
Workers report what they got back (done, already recorded, refused, busy, or
a crash with its traceback) so the test can check the answers as well as the
book. Workers are forked from a forkserver that imported this module once, so
everything they run is top level here and nothing of pytest's state leaks in.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.invoicing import InvoiceDraft, InvoiceLineDraft
from activities.cash.policy import CashPolicy
from activities.cash.statements import StatementLine
from activities.cash.store import apply_line, import_lines, release_kept_promise
from activities.cash.stripe_events import handle_event, link_customer
from activities.collections.store import record_promise, settle_promise
from activities.disputes.store import (
    close_dispute,
    issue_credit_note,
    open_dispute,
    reissue_invoice,
)
from activities.ledger.db import make_engine, session_factory, transaction
from activities.ledger.errors import LedgerBusy, LedgerError
from activities.ledger.invoices import issue_invoice
from activities.ledger.models import BankStatementLine, DisputeStatus, LineKind, PromiseToPay
from activities.ledger.payments import PaymentIn, RefundIn, record_payment, refund_payment
from tests.conftest import NOW
from tests.ledger import factories

ACTOR = "race:test"
DUE = date(2026, 12, 31)

#: (outcome, detail): outcome is done, already, refused, busy or crash.
Outcome = tuple[str, str]


def customer_id(round_: int) -> str:
    return f"RACE-{round_}"


def payment(round_: int, processor_id: str, amount: str) -> PaymentIn:
    return PaymentIn(
        customer_id=customer_id(round_),
        processor_id=processor_id,
        amount=Decimal(amount),
        currency="USD",
        received_at=NOW,
    )


def draft(amount: str) -> InvoiceDraft:
    total = Decimal(amount)
    zero = Decimal("0.00")
    line = InvoiceLineDraft(
        kind=LineKind.CHARGE.value,
        description="Plan",
        item_code="plan",
        period_start=NOW,
        period_end=NOW + timedelta(days=30),
        quantity=Decimal(1),
        unit_amount=total,
        proration_fraction=Decimal(1),
        amount=total,
        discount_amount=zero,
        tax_rate=Decimal(0),
        tax_amount=zero,
    )
    return InvoiceDraft(
        currency="USD",
        lines=(line,),
        subtotal=total,
        discount_total=zero,
        tax_total=zero,
        total=total,
        credit_applied=zero,
        amount_due=total,
        po_number=None,
        issue_date=NOW.date(),
        due_date=DUE,
        period_start=NOW,
        period_end=NOW + timedelta(days=30),
        credit_to_balance=zero,
        refund_due=zero,
    )


# --- the cases: what is booked before, and what worker w does in round r -----------------------


def _book_customer(session: Session, round_: int) -> None:
    factories.customer(session, customer_id(round_))


def _book_invoice(session: Session, round_: int) -> None:
    _book_customer(session, round_)
    factories.open_invoice(session, customer_id(round_), "100.00", DUE)


def _book_paid_invoice(session: Session, round_: int) -> None:
    _book_invoice(session, round_)
    record_payment(session, payment(round_, f"paid-{round_}", "100.00"), ACTOR)


def _same_processor_id(session: Session, round_: int, _worker: int) -> Outcome:
    result = record_payment(session, payment(round_, f"same-{round_}", "100.00"), ACTOR)
    return ("already" if result.already_recorded else "done", "")


def _overpay(session: Session, round_: int, worker: int) -> Outcome:
    record_payment(session, payment(round_, f"over-{round_}-{worker}", "60.00"), ACTOR)
    return ("done", "")


def _refund(session: Session, round_: int, worker: int, amount: str) -> Outcome:
    refund_payment(
        session,
        RefundIn(
            processor_id=f"re-{round_}-{worker}",
            payment_processor_id=f"paid-{round_}",
            amount=Decimal(amount),
            reason="race",
            refunded_at=NOW,
        ),
        ACTOR,
    )
    return ("done", "")


def _refund_vs_refund(session: Session, round_: int, worker: int) -> Outcome:
    return _refund(session, round_, worker, "60.00")


def _refund_vs_payment(session: Session, round_: int, worker: int) -> Outcome:
    if worker % 2 == 0:
        return _refund(session, round_, worker, "100.00")
    record_payment(session, payment(round_, f"new-{round_}-{worker}", "100.00"), ACTOR)
    return ("done", "")


def _credit_vs_payment(session: Session, round_: int, worker: int) -> Outcome:
    if worker % 2 == 0:
        issue_credit_note(
            session,
            key=f"cn-{round_}-{worker}",
            invoice_number=f"INV-{round_ + 1:06d}",
            amount=Decimal("70.00"),
            reason="race",
            actor=ACTOR,
            at=NOW,
        )
    else:
        record_payment(session, payment(round_, f"cnp-{round_}-{worker}", "70.00"), ACTOR)
    return ("done", "")


def _credit_notes_beyond_total(session: Session, round_: int, worker: int) -> Outcome:
    """Four approved credits of 40.00 on one 100.00 invoice, each under its own key: two fit."""
    issue_credit_note(
        session,
        key=f"cnt-{round_}-{worker}",
        invoice_number=f"INV-{round_ + 1:06d}",
        amount=Decimal("40.00"),
        reason="race",
        actor=ACTOR,
        at=NOW,
    )
    return ("done", "")


def _disputes_one_invoice(session: Session, round_: int, worker: int) -> Outcome:
    """Four analysts open a dispute on the same invoice at once: one holds it."""
    open_dispute(
        session,
        dispute_id=f"DSP-R{round_}-{worker}",
        customer_id=customer_id(round_),
        invoice_numbers=[f"INV-{round_ + 1:06d}"],
        claim="we had fewer seats",
        opened_by=ACTOR,
        at=NOW,
    )
    return ("done", "")


def _invoices_one_customer(session: Session, round_: int, worker: int) -> Outcome:
    """Two bill runs for one customer, one of them retried at the same instant, and a payment."""
    if worker == 3:
        record_payment(session, payment(round_, f"bill-{round_}", "150.00"), ACTOR)
        return ("done", "")
    key = f"bill-run:{round_}:{'B' if worker == 1 else 'A'}"
    issue_invoice(
        session, customer_id(round_), draft("100.00"), source_key=key, actor=ACTOR, now=NOW
    )
    return ("done", "")


def _stripe(
    session: Session, event_id: str, kind: str, obj: dict[str, Any], later: int = 0
) -> Outcome:
    """Hand Stripe's event to the ledger as the webhook does; ``later`` seconds after NOW."""
    created = int(NOW.timestamp()) + later
    event = {"id": event_id, "type": kind, "created": created, "data": {"object": obj}}
    outcome = handle_event(session, event, NOW)
    return ("refused" if outcome.status == "ignored" else "done", outcome.message)


def _charge_refunded(round_: int, refunds: list[str]) -> dict[str, Any]:
    """Stripe's charge after ``refunds`` (ids) of 10.00 each; ``amount_refunded`` is cumulative."""
    listed = [{"id": r, "amount": 1000, "currency": "usd", "status": "succeeded"} for r in refunds]
    return {
        "id": f"ch_{round_}",
        "object": "charge",
        "payment_intent": f"paid-{round_}",
        "amount": 10000,
        "amount_refunded": 1000 * len(refunds),
        "currency": "usd",
        "refunds": {"object": "list", "data": listed},
    }


def _refund_events(session: Session, round_: int, worker: int) -> Outcome:
    """Four refunds of 10.00 on one charge, each announced by its own ``charge.refunded``
    carrying the cumulative ``amount_refunded``; worker 0 and 2 get events rendered without
    the refunds list (a newer API version), 1 and 3 with it. Stripe delivers them at once."""
    refunds = [f"re_{round_}_{n}" for n in range(worker + 1)]
    obj = _charge_refunded(round_, refunds)
    if worker % 2 == 0:
        obj["refunds"] = {"object": "list", "data": []}
    return _stripe(session, f"evt_r_{round_}_{worker}", "charge.refunded", obj)


def _chargeback_events(session: Session, round_: int, worker: int) -> Outcome:
    """A card dispute's ``created`` and ``closed`` (lost) events, two deliveries of each under
    their own event ids, all at once: one dispute, and the money taken back once."""
    kind = "charge.dispute.created" if worker < 2 else "charge.dispute.closed"
    dispute = {
        "id": f"dp_{round_}",
        "object": "dispute",
        "amount": 10000,
        "currency": "usd",
        "charge": f"ch_{round_}",
        "payment_intent": f"paid-{round_}",
        "reason": "fraudulent",
        "status": "needs_response" if worker < 2 else "lost",
    }
    return _stripe(session, f"evt_d_{round_}_{worker}", kind, dispute)


def _failed_refund_events(session: Session, round_: int, worker: int) -> Outcome:
    """Refund A (10.00) fails days after it was made, while refund B (10.00) stands.

    At once: the ``charge.refunded`` announcing A (with the list), the one announcing B
    (rendered without it, cumulative 20.00, so a stale snapshot that still counts A), and
    the failure twice (``refund.failed`` and ``charge.refund.updated`` for the same refund).
    Whatever the order, the ledger must end with 10.00 refunded and A taken back once.
    """
    if worker == 0:
        obj = _charge_refunded(round_, [f"re_{round_}_a"])
        return _stripe(session, f"evt_f_{round_}_0", "charge.refunded", obj)
    if worker == 1:
        obj = _charge_refunded(round_, [f"re_{round_}_a", f"re_{round_}_b"])
        obj["refunds"] = {"object": "list", "data": []}
        return _stripe(session, f"evt_f_{round_}_1", "charge.refunded", obj, later=1)
    failed = {
        "id": f"re_{round_}_a",
        "object": "refund",
        "amount": 1000,
        "currency": "usd",
        "charge": f"ch_{round_}",
        "payment_intent": f"paid-{round_}",
        "created": int(NOW.timestamp()),
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
    }
    kind = "refund.failed" if worker == 2 else "charge.refund.updated"
    return _stripe(session, f"evt_f_{round_}_{worker}", kind, failed, later=3 * 86400)


def _book_bank_line(session: Session, round_: int) -> None:
    """An open 100.00 invoice, and a bank credit of 100.00 waiting for review."""
    _book_invoice(session, round_)
    import_lines(
        session,
        [
            StatementLine(
                bank_reference=f"BANK-{round_}",
                statement_id="STMT-1",
                account="NL91ABNA0417164300",
                booked_on=NOW.date(),
                amount=Decimal("100.00"),
                currency="USD",
                payer_name=f"{customer_id(round_)} Ltd",
                payer_account="GB29NWBK60161331926819",
                remittance=f"INV-{round_ + 1:06d}",
            )
        ],
        NOW,
    )


def _bank_line_vs_stripe(session: Session, round_: int, worker: int) -> Outcome:
    """Two analysts apply the bank credit to the invoice while Stripe reports a card payment
    of the same invoice twice (``payment_intent.succeeded`` and ``charge.succeeded``), all at
    once: the card payment is cash received whatever the bank line did, so it is recorded."""
    invoice = f"INV-{round_ + 1:06d}"
    if worker < 2:
        line_id = session.scalar(
            select(BankStatementLine.id).where(BankStatementLine.bank_reference == f"BANK-{round_}")
        )
        assert line_id is not None
        apply_line(
            session,
            line_id,
            customer_id(round_),
            [invoice],
            CashPolicy(),
            ACTOR,
            NOW,
            reason="race",
        )
        return ("done", "")
    kind = "payment_intent.succeeded" if worker == 2 else "charge.succeeded"
    obj: dict[str, Any] = {
        "id": f"pi_{round_}" if worker == 2 else f"ch_{round_}",
        "object": "payment_intent" if worker == 2 else "charge",
        "payment_intent": f"pi_{round_}",
        "amount": 10000,
        "amount_received": 10000,
        "currency": "usd",
        "metadata": {"invoice_number": invoice, "customer_id": customer_id(round_)},
    }
    return _stripe(session, f"evt_p_{round_}_{worker}", kind, obj)


def _reissue_vs_credit_notes(session: Session, round_: int, worker: int) -> Outcome:
    """An analyst re-issues the invoice (voiding it) while three credits of 30.00 are issued
    on it: a voided invoice owes nothing, so nothing may be credited on it."""
    invoice = f"INV-{round_ + 1:06d}"
    if worker == 0:
        reissue_invoice(
            session,
            key=f"reissue-{round_}",
            invoice_number=invoice,
            po_number="PO-2",
            address=None,
            actor=ACTOR,
            at=NOW,
        )
        return ("done", "reissue")
    issue_credit_note(
        session,
        key=f"cnr-{round_}-{worker}",
        invoice_number=invoice,
        amount=Decimal("30.00"),
        reason="race",
        actor=ACTOR,
        at=NOW,
    )
    return ("done", "credit")


def _credit_note_key_reused(session: Session, round_: int, worker: int) -> Outcome:
    """One idempotency key sent with two different credits (10.00 on two invoices), each
    twice: the copies of the first are the first note; the other credit is refused."""
    issue_credit_note(
        session,
        key=f"cnk-{round_}",
        invoice_number=f"INV-{2 * round_ + 1 + worker % 2:06d}",
        amount=Decimal("10.00"),
        reason="race",
        actor=ACTOR,
        at=NOW,
    )
    return ("done", "")


def _book_two_invoices(session: Session, round_: int) -> None:
    _book_invoice(session, round_)
    factories.open_invoice(session, customer_id(round_), "100.00", DUE)


def _promise(session: Session, round_: int, key: str) -> None:
    record_promise(
        session,
        customer_id=customer_id(round_),
        amount=Decimal("50.00"),
        currency="USD",
        promised_date=NOW.date() + timedelta(days=7),
        grace_days=3,
        actor=ACTOR,
        now=NOW,
        idempotency_key=key,
    )


def _promises_one_account(session: Session, round_: int, worker: int) -> Outcome:
    """Four analysts record a promise to pay for one account at once: it holds one."""
    _promise(session, round_, f"pr-{round_}-{worker}")
    return ("done", "")


def _book_promise(session: Session, round_: int) -> None:
    _book_invoice(session, round_)
    _promise(session, round_, f"pr-{round_}")


def _promise_settled(session: Session, round_: int, worker: int) -> Outcome:
    """The cadence settles the promise at its deadline (delivered twice) while cash covering
    it arrives twice: the promise is settled once, kept or broken, never both."""
    promise_id = session.scalar(
        select(PromiseToPay.id).where(PromiseToPay.customer_id == customer_id(round_))
    )
    assert promise_id is not None
    if worker < 2:
        deadline = NOW + timedelta(days=10)
        status = settle_promise(session, promise_id, deadline=deadline, actor=ACTOR, now=deadline)
        return ("done", status.value)
    record_payment(session, payment(round_, f"kept-{round_}-{worker}", "60.00"), ACTOR)
    kept = release_kept_promise(session, customer_id(round_), ACTOR, NOW)
    return ("done", "kept" if kept else "")


def _book_overpaid_invoice(session: Session, round_: int) -> None:
    """A 100.00 invoice paid by 140.00 whose 40.00 left over became account credit."""
    _book_invoice(session, round_)
    overpaid = PaymentIn(
        customer_id=customer_id(round_),
        processor_id=f"paid-{round_}",
        amount=Decimal("140.00"),
        currency="USD",
        received_at=NOW,
        overpayment="account_credit",
    )
    record_payment(session, overpaid, ACTOR)


def _refunds_of_overpayment(session: Session, round_: int, worker: int) -> Outcome:
    """Four refunds of 60.00 of that payment: the 40.00 on the account is credit the
    customer can spend, no longer cash to refund, so one fits (100.00 is refundable)."""
    return _refund(session, round_, worker, "60.00")


def _book_dispute(session: Session, round_: int) -> None:
    _book_invoice(session, round_)
    _disputes_one_invoice(session, round_, 0)


def _dispute_closed_twice(session: Session, round_: int, worker: int) -> Outcome:
    """The dispute closed as resolved (twice: a retried activity) and as withdrawn (twice)
    at once: it ends one way, and the other way is refused."""
    status = DisputeStatus.RESOLVED if worker < 2 else DisputeStatus.WITHDRAWN
    close_dispute(session, f"DSP-R{round_}-0", status, ACTOR, "race", NOW)
    return ("done", status.value)


def _payment_with_refund_events(session: Session, round_: int, worker: int) -> Outcome:
    """A card payment and three ``charge.refunded`` events of it (cumulative 10, 20, 30.00)
    delivered at the same instant: a refund that comes before its payment is parked, and
    must be applied when the payment lands, also when the two commit together."""
    if worker == 0:
        obj: dict[str, Any] = {
            "id": f"paid-{round_}",
            "object": "payment_intent",
            "amount_received": 10000,
            "currency": "usd",
            "metadata": {"customer_id": customer_id(round_)},
        }
        return _stripe(session, f"evt_pp_{round_}", "payment_intent.succeeded", obj)
    return _refund_events(session, round_, worker - 1)


def _payments_while_linking(session: Session, round_: int, worker: int) -> Outcome:
    """An analyst links Stripe customer ``cus_r`` to ours while three of its card payments
    arrive: a payment parked for want of the link is applied when the link lands."""
    if worker == 0:
        link_customer(session, f"cus_{round_}", customer_id(round_), ACTOR, NOW)
        return ("done", "")
    obj: dict[str, Any] = {
        "id": f"pi_{round_}_{worker}",
        "object": "payment_intent",
        "amount_received": 2000,
        "currency": "usd",
        "customer": f"cus_{round_}",
    }
    return _stripe(session, f"evt_l_{round_}_{worker}", "payment_intent.succeeded", obj)


def _book_card_paid_invoice(session: Session, round_: int) -> None:
    """A 100.00 invoice paid by card through Stripe (payment intent ``pi_<round>``)."""
    _book_invoice(session, round_)
    card = PaymentIn(
        customer_id=customer_id(round_),
        processor_id=f"pi_{round_}",
        amount=Decimal("100.00"),
        currency="USD",
        received_at=NOW,
        method="card",
    )
    record_payment(session, card, "stripe")


def _product_refund_vs_refund_events(session: Session, round_: int, worker: int) -> Outcome:
    """An analyst records Stripe refund ``re_<round>`` (30.00) of the card payment from the
    product (a double click: twice), while Stripe announces that same refund twice: once
    rendered without the refunds list (a newer API version), once with it. One refund."""
    if worker < 2:
        refund_payment(
            session,
            RefundIn(
                processor_id=f"re_{round_}",
                payment_processor_id=f"pi_{round_}",
                amount=Decimal("30.00"),
                reason="customer asked",
                refunded_at=NOW,
            ),
            ACTOR,
        )
        return ("done", "")
    listed = [{"id": f"re_{round_}", "amount": 3000, "currency": "usd", "status": "succeeded"}]
    obj = {
        "id": f"ch_{round_}",
        "object": "charge",
        "payment_intent": f"pi_{round_}",
        "amount": 10000,
        "amount_refunded": 3000,
        "currency": "usd",
        "refunds": {"object": "list", "data": listed if worker == 3 else []},
    }
    return _stripe(session, f"evt_pr_{round_}_{worker}", "charge.refunded", obj)


@dataclass(frozen=True)
class Case:
    book: Callable[[Session, int], None]
    act: Callable[[Session, int, int], Outcome]


CASES: dict[str, Case] = {
    "same_processor_id": Case(_book_invoice, _same_processor_id),
    "payments_exceed_invoice": Case(_book_invoice, _overpay),
    "refund_vs_refund": Case(_book_paid_invoice, _refund_vs_refund),
    "refund_vs_payment": Case(_book_paid_invoice, _refund_vs_payment),
    "credit_note_vs_payment": Case(_book_invoice, _credit_vs_payment),
    "invoices_one_customer": Case(_book_customer, _invoices_one_customer),
    "credit_notes_beyond_total": Case(_book_invoice, _credit_notes_beyond_total),
    "disputes_one_invoice": Case(_book_invoice, _disputes_one_invoice),
    "stripe_refund_events": Case(_book_paid_invoice, _refund_events),
    "stripe_chargeback_events": Case(_book_paid_invoice, _chargeback_events),
    "stripe_failed_refund_events": Case(_book_paid_invoice, _failed_refund_events),
    "bank_line_vs_stripe_payment": Case(_book_bank_line, _bank_line_vs_stripe),
    "reissue_vs_credit_notes": Case(_book_invoice, _reissue_vs_credit_notes),
    "credit_note_key_reused": Case(_book_two_invoices, _credit_note_key_reused),
    "promises_one_account": Case(_book_invoice, _promises_one_account),
    "promise_settled_once": Case(_book_promise, _promise_settled),
    "refunds_of_overpayment": Case(_book_overpaid_invoice, _refunds_of_overpayment),
    "dispute_closed_twice": Case(_book_dispute, _dispute_closed_twice),
    "payment_with_refund_events": Case(_book_invoice, _payment_with_refund_events),
    "payments_while_linking": Case(_book_invoice, _payments_while_linking),
    "product_refund_vs_refund_events": Case(
        _book_card_paid_invoice, _product_refund_vs_refund_events
    ),
}


# --- running a race ---------------------------------------------------------------------------


def book(sessions: sessionmaker[Session], case: str, rounds: int) -> None:
    with transaction(sessions) as session:
        for round_ in range(rounds):
            CASES[case].book(session, round_)


def race(url: str, case: str, rounds: int, workers: int) -> dict[int, list[Outcome]]:
    """Run ``case`` with ``workers`` processes for ``rounds`` rounds: outcomes per round."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # each worker starts as a fork of a warm process
    barrier = context.Barrier(workers)
    results: Any = context.Queue()
    processes = [
        context.Process(target=_worker, args=(url, case, worker, rounds, barrier, results))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes: dict[int, list[Outcome]] = {round_: [] for round_ in range(rounds)}
    for _ in range(rounds * workers):
        round_, outcome = results.get(timeout=300)
        outcomes[round_].append(outcome)
    for process in processes:
        process.join(timeout=60)
    return outcomes


def _worker(url: str, case: str, worker: int, rounds: int, barrier: Any, results: Any) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    act = CASES[case].act
    for round_ in range(rounds):
        barrier.wait(timeout=120)
        results.put((round_, attempt(sessions, _bound(act, round_, worker))))
    engine.dispose()


def _bound(
    act: Callable[[Session, int, int], Outcome], round_: int, worker: int
) -> Callable[[Session], Outcome]:
    return lambda session: act(session, round_, worker)


def attempt(
    sessions: sessionmaker[Session], act: Callable[[Session], Outcome], retries: int = 3
) -> Outcome:
    """One transaction, retried on "busy" as a Temporal activity would be: what it returned,
    or how it was refused, or the traceback of a crash."""
    try:
        with transaction(sessions) as session:
            return act(session)
    except LedgerBusy as error:
        return attempt(sessions, act, retries - 1) if retries else ("busy", str(error))
    except LedgerError as error:
        return ("refused", str(error))
    except Exception:
        return ("crash", traceback.format_exc())
