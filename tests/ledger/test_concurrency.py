"""Money under concurrency: 4 writer processes per race, released together, round after round.

After each race every invariant of activities/ledger/invariants.py must hold
and every answer must be one a person can act on (never a crash). PostgreSQL
runs 4 processes x 50 rounds per case; SQLite, whose writers queue on one
file lock, runs fewer rounds of the same cases.
"""

from __future__ import annotations

import os
from decimal import Decimal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.invariants import violations
from activities.ledger.models import (
    AuditEntry,
    CreditNote,
    DisputedInvoice,
    Invoice,
    InvoiceStatus,
    Payment,
    PromiseToPay,
    Refund,
    StripeEvent,
    StripeEventStatus,
)
from tests.ledger import races

WORKERS = 4
ROUNDS = {"postgresql": 50, "sqlite": int(os.environ.get("SQLITE_RACE_ROUNDS", "10"))}


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _race(
    engine: Engine, sessions: sessionmaker[Session], case: str
) -> dict[int, list[races.Outcome]]:
    rounds = ROUNDS[engine.dialect.name]
    races.book(sessions, case, rounds)
    outcomes = races.race(_url(engine), case, rounds, WORKERS)
    crashes = [
        detail for per_round in outcomes.values() for kind, detail in per_round if kind == "crash"
    ]
    assert not crashes, f"{len(crashes)} crash(es), first:\n{crashes[0]}"
    with sessions() as session:
        broken = violations(session)
    assert not broken, f"{len(broken)} invariant(s) broken, first ones:\n" + "\n".join(broken[:8])
    return outcomes


def _kinds(outcomes: list[races.Outcome]) -> list[str]:
    return sorted(kind for kind, _ in outcomes)


def test_one_processor_id_is_one_payment(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "same_processor_id")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["already"] * (WORKERS - 1) + ["done"], (round_, got)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == len(outcomes)


def test_payments_that_exceed_the_invoice(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "payments_exceed_invoice")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] * WORKERS, (round_, got)
    with sessions() as session:
        assert set(session.scalars(select(Invoice.balance))) == {0}
        assert session.scalar(select(func.sum(Payment.unapplied))) == 140 * len(outcomes)


def test_refund_racing_refund(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "refund_vs_refund")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] + ["refused"] * (WORKERS - 1), (round_, got)
        refusals = [detail for kind, detail in got if kind == "refused"]
        assert all("exceeds what is refundable" in detail for detail in refusals), refusals
    with sessions() as session:
        assert session.scalar(select(func.sum(Refund.amount))) == 60 * len(outcomes)


def test_refund_racing_a_new_payment(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "refund_vs_payment")
    for round_, got in outcomes.items():
        # two refunds of the whole payment: one is refused; both new payments are taken
        assert _kinds(got) == ["done"] * (WORKERS - 1) + ["refused"], (round_, got)
    with sessions() as session:
        assert session.scalar(select(func.sum(Refund.amount))) == 100 * len(outcomes)


def test_credit_note_racing_a_payment(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "credit_note_vs_payment")
    for round_, got in outcomes.items():
        # two credits of 70.00 on a 100.00 invoice: the second would credit beyond its total
        assert _kinds(got) == ["done"] * (WORKERS - 1) + ["refused"], (round_, got)
        refusals = [detail for kind, detail in got if kind == "refused"]
        assert all("can still be credited" in detail for detail in refusals), refusals


def test_credit_notes_never_exceed_the_invoice(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "credit_notes_beyond_total")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] * 2 + ["refused"] * 2, (round_, got)
    with sessions() as session:
        assert session.scalar(select(func.sum(CreditNote.amount))) == 80 * len(outcomes)


def test_one_open_dispute_holds_an_invoice(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "disputes_one_invoice")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] + ["refused"] * (WORKERS - 1), (round_, got)
        refusals = [detail for kind, detail in got if kind == "refused"]
        assert all("already disputed" in detail for detail in refusals), refusals
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DisputedInvoice)) == len(outcomes)


def test_invoices_and_a_payment_for_one_customer(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "invoices_one_customer")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] * WORKERS, (round_, got)
    with sessions() as session:
        numbers = sorted(n or "" for n in session.scalars(select(Invoice.number)))
    assert numbers == [f"INV-{n:06d}" for n in range(1, 2 * len(outcomes) + 1)]


def test_refund_events_of_one_charge_refund_it_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "stripe_refund_events")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] * WORKERS, (round_, got)
    with sessions() as session:
        refunded = dict(session.execute(select(Payment.processor_id, Payment.refunded)).all())
    # each charge was refunded 4 x 10.00 in Stripe: the ledger holds 40.00, not the sum of the
    # cumulative figures (10 + 20 + 30 + 40) or any figure counted twice
    assert set(refunded.values()) == {40}, refunded


def test_a_failed_refund_is_taken_back_once_whatever_the_order_of_its_events(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "stripe_failed_refund_events")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] * WORKERS, (round_, got)
    with sessions() as session:
        refunded = set(session.scalars(select(Payment.refunded)))
        balances = set(session.scalars(select(Invoice.balance)))
        failed = session.scalar(select(func.count()).where(Refund.amount < 0))
    # B stands, A came back: 10.00 refunded, re-opening 10.00 of the paid invoice; the
    # failure is recorded once per charge although Stripe announced it twice
    assert refunded == {10}
    assert balances == {10}
    assert failed == len(outcomes)


def test_chargeback_events_take_the_money_back_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "stripe_chargeback_events")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] * WORKERS, (round_, got)
    with sessions() as session:
        refunded = set(session.scalars(select(Payment.refunded)))
        disputes = session.scalar(select(func.count()).select_from(DisputedInvoice))
    assert refunded == {100}
    assert disputes == len(outcomes)


def test_a_card_payment_racing_a_bank_line_for_one_invoice_is_recorded(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "bank_line_vs_stripe_payment")
    for round_, got in outcomes.items():
        # the card payment's two events are applied (one finds it recorded); the bank line is
        # applied once, or refused to both analysts when the card paid the invoice first
        card_refused = [detail for _, detail in got if detail.startswith("refused:")]
        assert not card_refused, (round_, got)
        assert _kinds(got) in (["done"] * 3 + ["refused"], ["done"] * 2 + ["refused"] * 2), (
            round_,
            got,
        )
    with sessions() as session:
        card_paid = session.scalars(
            select(Payment.amount).where(Payment.processor_id.like("pi_%"))
        ).all()
    assert list(card_paid) == [Decimal(100)] * len(outcomes), card_paid


def test_a_voided_invoice_takes_no_credit(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "reissue_vs_credit_notes")
    for round_, got in outcomes.items():
        # re-issued first: the three credits are refused; a credit first: the re-issue is
        # refused (the invoice is no longer unpaid) and the three credits fit its total
        if ("done", "reissue") in got:
            assert _kinds(got) == ["done"] + ["refused"] * 3, (round_, got)
        else:
            assert got.count(("done", "credit")) == 3, (round_, got)
    with sessions() as session:
        on_void = session.scalar(
            select(func.count())
            .select_from(CreditNote)
            .join(Invoice, Invoice.id == CreditNote.invoice_id)
            .where(Invoice.status == InvoiceStatus.VOID)
        )
    assert on_void == 0


def test_a_credit_note_key_is_one_credit(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "credit_note_key_reused")
    for round_, got in outcomes.items():
        # the two copies of whichever credit came first get its note; the other is refused
        assert _kinds(got) == ["done"] * 2 + ["refused"] * 2, (round_, got)
        refusals = [detail for kind, detail in got if kind == "refused"]
        assert all("already issued" in detail for detail in refusals), refusals
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CreditNote)) == len(outcomes)


def test_an_account_holds_one_open_promise(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "promises_one_account")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] + ["refused"] * (WORKERS - 1), (round_, got)
        refusals = [detail for kind, detail in got if kind == "refused"]
        assert all("already has an open promise" in detail for detail in refusals), refusals
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PromiseToPay)) == len(outcomes)


def test_a_promise_is_settled_once(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "promise_settled_once")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] * WORKERS, (round_, got)
        # the cadence's two deliveries and the cash that kept it tell of one outcome
        assert len({detail for _, detail in got if detail}) == 1, (round_, got)
    with sessions() as session:
        settlements = session.execute(
            select(AuditEntry.subject_id, func.count())
            .where(AuditEntry.action.in_(("promise.kept", "promise.broken")))
            .group_by(AuditEntry.subject_id)
        ).all()
    assert {count for _, count in settlements} == {1}, settlements
    assert len(settlements) == len(outcomes)


def test_cash_that_became_account_credit_is_not_refunded_too(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "refunds_of_overpayment")
    for round_, got in outcomes.items():
        assert _kinds(got) == ["done"] + ["refused"] * (WORKERS - 1), (round_, got)
        refusals = [detail for kind, detail in got if kind == "refused"]
        assert all("account credit" in detail for detail in refusals), refusals
    with sessions() as session:
        assert session.scalar(select(func.sum(Refund.amount))) == 60 * len(outcomes)


def test_a_dispute_is_closed_once(engine: Engine, sessions: sessionmaker[Session]) -> None:
    outcomes = _race(engine, sessions, "dispute_closed_twice")
    for round_, got in outcomes.items():
        # the first closing and its retry are done; the other closing is refused
        done = {detail for kind, detail in got if kind == "done"}
        assert len(done) == 1 and _kinds(got) == ["done"] * 2 + ["refused"] * 2, (round_, got)
    with sessions() as session:
        closings = session.execute(
            select(AuditEntry.subject_id, func.count())
            .where(AuditEntry.action.in_(("dispute.resolved", "dispute.withdrawn")))
            .group_by(AuditEntry.subject_id)
        ).all()
    assert {count for _, count in closings} == {1}, closings


def test_refunds_that_race_their_payment_are_applied(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    _race(engine, sessions, "payment_with_refund_events")
    with sessions() as session:
        refunded = session.scalars(select(Payment.refunded)).all()
        parked = session.scalars(
            select(StripeEvent.id).where(StripeEvent.status == StripeEventStatus.PARKED)
        ).all()
    # refunds of 10, 20 and 30.00 in all: the ledger holds 30.00 on each payment, and no
    # refund is left parked for a payment that has landed
    assert parked == [], parked
    assert set(refunded) == {30}, refunded


def test_payments_that_race_the_link_of_their_customer_are_applied(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "payments_while_linking")
    with sessions() as session:
        paid = session.scalar(select(func.sum(Payment.amount)))
        parked = session.scalars(
            select(StripeEvent.id).where(StripeEvent.status == StripeEventStatus.PARKED)
        ).all()
    assert parked == [], parked
    assert paid == 60 * len(outcomes)


def test_a_refund_recorded_in_the_product_is_the_stripe_refund_it_is(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    outcomes = _race(engine, sessions, "product_refund_vs_refund_events")
    with sessions() as session:
        refunded = session.scalars(select(Payment.refunded).order_by(Payment.id)).all()
    twice = [round_ for round_, amount in enumerate(refunded) if amount != 30]
    # one refund of 30.00 (re_<round>), whichever of the product and Stripe records it first
    assert not twice, f"refunded other than once in {len(twice)}/{len(outcomes)} rounds: " + str(
        [(r, str(refunded[r])) for r in twice[:5]]
    )
