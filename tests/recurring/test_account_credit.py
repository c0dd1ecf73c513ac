"""Account credit on bill-run invoices: customers' unapplied credit notes are spent on the next
renewal invoice, oldest note first, never below zero, and never twice when two runs bill the
same customer at once (PostgreSQL, two connections released together)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import transaction
from activities.ledger.errors import LedgerBusy
from activities.ledger.invariants import violations
from activities.ledger.invoices import issue_invoice
from activities.ledger.models import (
    ContractType,
    CreditNote,
    CreditNoteApplication,
    CreditNoteKind,
    Invoice,
    InvoiceStatus,
)
from activities.recurring.bill_run import bill_subscription
from activities.recurring.changes import ChangeRequest, change_subscription
from activities.recurring.credits import available_credit, spend_credit
from tests.ledger.races import draft
from tests.recurring.factories import billing, subscription
from tests.recurring.test_bill_run_races import together

ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
NOW = datetime(2026, 12, 14, 12, tzinfo=UTC)
DAY = date(2026, 12, 15)


def note(
    session: Session, customer_id: str, amount: str, *, number: str, at: datetime = ANCHOR
) -> None:
    session.add(
        CreditNote(
            number=number,
            idempotency_key=f"test:{number}",
            customer_id=customer_id,
            invoice_id=None,
            kind=CreditNoteKind.ACCOUNT_CREDIT,
            currency="USD",
            amount=Decimal(amount),
            unapplied=Decimal(amount),
            reason="test credit",
            issued_at=at,
        )
    )
    session.flush()


def bill(sessions: sessionmaker[Session], subscription_id: str) -> Invoice:
    with transaction(sessions) as session:
        outcome = bill_subscription(
            session, subscription_id, DAY, billing(), actor="workflow:w", now=NOW
        )[0]
        assert outcome.invoice is not None, outcome
        invoice = session.scalars(
            select(Invoice).where(Invoice.number == outcome.invoice.number)
        ).one()
        session.expunge(invoice)
        return invoice


def unapplied(sessions: sessionmaker[Session]) -> dict[str, Decimal]:
    with sessions() as session:
        return {n.number: n.unapplied for n in session.scalars(select(CreditNote))}


def test_credit_is_spent_oldest_note_first_and_the_book_adds_up(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        subscription(session, "SUB-A", anchor=ANCHOR, now=NOW)
        note(session, "C-SUB-A", "30.00", number="CN-OLD", at=ANCHOR)
        note(session, "C-SUB-A", "100.00", number="CN-NEW", at=NOW)
    invoice = bill(sessions, "SUB-A")
    assert invoice.total > Decimal("130.00")
    assert invoice.credit_applied == Decimal("130.00")
    assert invoice.amount_due == invoice.balance == invoice.total - Decimal("130.00")
    assert unapplied(sessions) == {"CN-OLD": Decimal("0.00"), "CN-NEW": Decimal("0.00")}
    with sessions() as session:
        spent = {a.credit_note_id: a.amount for a in session.scalars(select(CreditNoteApplication))}
        assert sorted(spent.values()) == [Decimal("30.00"), Decimal("100.00")]
        assert violations(session) == []


def test_more_credit_than_the_invoice_leaves_the_rest_on_the_account(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        subscription(session, "SUB-B", anchor=ANCHOR, now=NOW)
        note(session, "C-SUB-B", "100000.00", number="CN-BIG")
    invoice = bill(sessions, "SUB-B")
    assert invoice.credit_applied == invoice.total > 0
    assert invoice.amount_due == invoice.balance == Decimal("0.00")
    assert invoice.status == InvoiceStatus.PAID
    assert unapplied(sessions) == {"CN-BIG": Decimal("100000.00") - invoice.total}
    with sessions() as session:
        assert violations(session) == []


def test_credit_that_vanished_under_the_lock_is_never_half_spent(
    sessions: sessionmaker[Session],
) -> None:
    """The conditional update is the backstop: a note drawn down behind the run's back (a bug
    in the lock order) fails the transaction as busy (retried), rather than spend money that
    is gone or spend part of it."""
    with transaction(sessions) as session:
        subscription(session, "SUB-C", anchor=ANCHOR, now=NOW)
        note(session, "C-SUB-C", "30.00", number="CN-1")
        note(session, "C-SUB-C", "50.00", number="CN-2", at=NOW)
    with pytest.raises(LedgerBusy, match="no longer available"), transaction(sessions) as session:
        assert available_credit(session, "C-SUB-C", "USD") == Decimal("80.00")
        credited = replace(
            draft("200.00"), credit_applied=Decimal("80.00"), amount_due=Decimal("120.00")
        )
        invoice = issue_invoice(
            session, "C-SUB-C", credited, source_key="test:stale", actor="test", now=NOW
        )
        session.flush()
        # Someone else spends 10.00 of the second note between the read and the spend.
        session.execute(
            update(CreditNote).where(CreditNote.number == "CN-2").values(unapplied=Decimal("40"))
        )
        spend_credit(session, invoice, actor="test", now=NOW)
    assert unapplied(sessions) == {"CN-1": Decimal("30.00"), "CN-2": Decimal("50.00")}
    with sessions() as session:
        assert session.scalars(select(CreditNoteApplication)).all() == []


@pytest.fixture
def postgres_sessions(engine: Engine, sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole transactions")
    return sessions


def test_two_runs_billing_one_customer_at_once_spend_its_credit_once(
    postgres_sessions: sessionmaker[Session],
) -> None:
    """Round after round, two subscriptions of one customer billed by two workers at the same
    instant: the customer's 150.00 of credit goes on one invoice, and nothing on the other
    (each renewal is larger than 150.00)."""
    sessions = postgres_sessions
    for round_ in range(8):
        first_id, second_id, customer_id = f"SUB-{round_}A", f"SUB-{round_}B", f"C-SUB-{round_}A"
        with transaction(sessions) as session:
            subscription(session, first_id, anchor=ANCHOR, now=NOW)
            subscription(session, second_id, anchor=ANCHOR, now=NOW, customer_id=customer_id)
            note(session, customer_id, "150.00", number=f"CN-{round_}")
        first, second = together(
            partial(bill, sessions, first_id), partial(bill, sessions, second_id)
        )
        assert isinstance(first, Invoice) and isinstance(second, Invoice), (first, second)
        assert sorted([first.credit_applied, second.credit_applied]) == [
            Decimal("0.00"),
            Decimal("150.00"),
        ]
        assert unapplied(sessions)[f"CN-{round_}"] == Decimal("0.00")
    with sessions() as session:
        assert violations(session) == []


def test_a_change_invoiced_at_once_spends_the_account_credit_too(
    sessions: sessionmaker[Session],
) -> None:
    """An annual contract's add-on is invoiced at once: the customer's credit comes off that
    invoice, as it would off the next renewal, and the note is drawn down with it."""
    with transaction(sessions) as session:
        subscription(
            session, "SUB-D", anchor=ANCHOR, now=NOW, contract=ContractType.ANNUAL_INVOICED
        )
        note(session, "C-SUB-D", "1.50", number="CN-D")
    b = billing()
    with transaction(sessions) as session:
        outcome = change_subscription(
            session,
            ChangeRequest(
                subscription_id="SUB-D",
                kind="addon",
                addon="advanced_security",
                at=NOW,
                actor="cli:test",
                idempotency_key="addon-d",
            ),
            book=b.book,
            taxes=b.taxes,
            policy=b.policy,
            now=NOW,
            apply=True,
        )
    assert outcome.invoice_number is not None
    with sessions() as session:
        invoice = session.scalars(
            select(Invoice).where(Invoice.number == outcome.invoice_number)
        ).one()
        assert invoice.total == outcome.pending_total > Decimal("1.50")
        assert invoice.credit_applied == Decimal("1.50")
        assert invoice.amount_due == invoice.balance == invoice.total - Decimal("1.50")
        assert violations(session) == []
    assert unapplied(sessions) == {"CN-D": Decimal("0.00")}
    # The renewal that follows finds no credit left to spend.
    renewal = bill(sessions, "SUB-D")
    assert renewal.credit_applied == Decimal("0.00")
