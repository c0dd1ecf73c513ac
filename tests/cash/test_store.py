"""Statement lines in the ledger on SQLite and PostgreSQL: two people or two imports at the same
instant, payments landing on the invoices chosen, the overpayment policy, and learning."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.cash.policy import CashPolicy
from activities.cash.statements import StatementLine
from activities.cash.store import apply_line, import_lines, load_book, match_lines
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import (
    BankStatementLine,
    CreditNote,
    Invoice,
    PayerMapping,
    Payment,
)
from tests.conftest import NOW
from tests.ledger import factories

T = TypeVar("T")


def line(reference: str, amount: str, account: str = "NL91ABNA0417164300") -> StatementLine:
    return StatementLine(
        reference,
        "S1",
        "ours",
        date(2026, 11, 2),
        Decimal(amount),
        "USD",
        "Payer Co",
        account,
        "",
    )


def _book(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        factories.customer(session, "CUS-1")
        factories.customer(session, "CUS-2")
        factories.open_invoice(session, "CUS-1", "30.00", date(2026, 9, 30))  # INV-000001
        factories.open_invoice(session, "CUS-1", "100.00", date(2026, 10, 30))  # INV-000002
        factories.open_invoice(session, "CUS-1", "50.00", date(2026, 11, 30))  # INV-000003
        factories.open_invoice(session, "CUS-2", "80.00", date(2026, 10, 30))  # INV-000004


def _at_once(sessions: sessionmaker[Session], *works: Callable[[Session], T]) -> list[object]:
    """Run each piece of work in its own transaction and thread, released together."""
    start = threading.Barrier(len(works))
    results: list[object] = [None] * len(works)

    def run(index: int, work: Callable[[Session], T]) -> None:
        start.wait()
        try:
            with transaction(sessions) as session:
                results[index] = work(session)
        except LedgerError as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_people_deciding_one_line_at_the_same_instant_apply_it_once(
    sessions: sessionmaker[Session],
) -> None:
    _book(sessions)
    with transaction(sessions) as session:
        (line_id,) = import_lines(session, [line("B-1", "100.00")], NOW)
    policy = CashPolicy()

    def decide(invoice: str, who: str) -> Callable[[Session], object]:
        return lambda s: apply_line(s, line_id, "CUS-1", [invoice], policy, who, NOW, reason="x")

    results = _at_once(sessions, decide("INV-000002", "cli:ana"), decide("INV-000003", "cli:ben"))
    refused = [r for r in results if isinstance(r, LedgerError)]
    assert len(refused) == 1 and "already applied" in str(refused[0])
    with sessions() as session:
        paid = session.scalar(select(func.sum(Payment.amount))) or Decimal(0)
        balances = {i.number: i.balance for i in session.scalars(select(Invoice))}
    assert paid == Decimal("100.00")
    assert sum(balances.values()) == Decimal("160.00")  # 260 owed before, 100 applied once


def test_two_imports_of_one_statement_at_the_same_instant_store_each_line_once(
    sessions: sessionmaker[Session],
) -> None:
    lines = [line(f"B-{n}", "10.00") for n in range(300)]
    results = _at_once(
        sessions, lambda s: import_lines(s, lines, NOW), lambda s: import_lines(s, lines, NOW)
    )
    inserted = [r for r in results if isinstance(r, list)]
    assert len(inserted) == 2, results
    assert sum(len(r) for r in inserted) == 300
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(BankStatementLine)) == 300


def test_a_payment_for_several_invoices_lands_on_each_and_over_payment_follows_the_policy(
    sessions: sessionmaker[Session],
) -> None:
    _book(sessions)
    with transaction(sessions) as session:
        (line_id,) = import_lines(session, [line("B-9", "160.00")], NOW)
    with transaction(sessions) as session:
        applied = apply_line(
            session,
            line_id,
            "CUS-1",
            ["INV-000003", "INV-000002"],
            CashPolicy(overpayment="account_credit"),
            "cli:ana",
            NOW,
            reason="checked",
        )
    assert [p.processor_id for p in applied.payments] == ["bank:B-9#1", "bank:B-9#2", "bank:B-9#3"]
    with sessions() as session:
        balances = {i.number: i.balance for i in session.scalars(select(Invoice))}
        credit = session.scalar(select(CreditNote.amount))
    # the named invoices first, whatever their age; the 10 left over follows the ledger's rule
    # (the oldest open invoice), and nothing is left for account credit
    assert balances == {
        "INV-000001": Decimal("20.00"),
        "INV-000002": Decimal("0.00"),
        "INV-000003": Decimal("0.00"),
        "INV-000004": Decimal("80.00"),
    }
    assert credit is None


def test_a_confirmed_match_does_not_overwrite_what_another_customer_taught(
    sessions: sessionmaker[Session],
) -> None:
    _book(sessions)
    with transaction(sessions) as session:
        first, second = import_lines(session, [line("B-1", "30.00"), line("B-2", "80.00")], NOW)
    policy = CashPolicy()
    with transaction(sessions) as session:
        apply_line(session, first, "CUS-1", ["INV-000001"], policy, "cli:ana", NOW, reason="x")
    with transaction(sessions) as session:
        apply_line(session, second, "CUS-2", ["INV-000004"], policy, "cli:ben", NOW, reason="x")
    with sessions() as session:
        taught = {m.key: m.customer_id for m in session.scalars(select(PayerMapping))}
    assert taught == {"NL91ABNA0417164300": "CUS-1", "payer": "CUS-1"}


def test_a_customer_paying_the_same_invoice_twice_in_one_statement_leaves_the_second_for_review(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    _book(sqlite_sessions)
    twice = [
        StatementLine(
            ref,
            "S1",
            "ours",
            date(2026, 11, 2),
            Decimal("100.00"),
            "USD",
            "CUS-1 Ltd",
            "",
            "INV-000002",
        )
        for ref in ("B-1", "B-2")
    ]
    with transaction(sqlite_sessions) as session:
        ids = import_lines(session, twice, NOW)
        summary = match_lines(session, ids, load_book(session), CashPolicy(), NOW, "system:test")
    assert [a.line_id for a in summary.applied] == ids[:1]
    assert summary.for_review == ids[1:]
    with sqlite_sessions() as session:
        second = session.get(BankStatementLine, ids[1])
        assert second is not None and second.proposals is not None
        assert "earlier line of the same import paid INV-000002" in second.proposals["refused"]
        assert session.scalar(select(func.sum(Payment.amount))) == Decimal("100.00")


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "-Infinity"])
def test_a_split_amount_that_is_not_a_number_is_refused_naming_the_field(
    sqlite_sessions: sessionmaker[Session], amount: str
) -> None:
    """A data error (LedgerError, not retried): it crashed the comparison with
    decimal.InvalidOperation, which a Temporal activity would retry."""
    _book(sqlite_sessions)
    with transaction(sqlite_sessions) as session:
        (line_id,) = import_lines(session, [line("B-NaN", "100.00")], NOW)
    refused = pytest.raises(LedgerError, match=r"amounts: .* is not a finite amount")
    with refused, transaction(sqlite_sessions) as session:
        apply_line(
            session,
            line_id,
            "CUS-1",
            ["INV-000002"],
            CashPolicy(),
            "cli:ana",
            NOW,
            amounts=[Decimal(amount)],
            reason="x",
        )
    with sqlite_sessions() as session:
        assert session.get(BankStatementLine, line_id).status.value == "review"  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_a_bank_reference_sent_again_with_another_amount_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    """The bank's reference keys a line: the same line again (a statement imported twice)
    is stored once, but another credit under it is refused, not dropped as a duplicate
    (its cash would never reach the ledger), also when both files arrive at once."""
    with transaction(sessions) as session:
        import_lines(session, [line("B-7", "100.00")], NOW)
    results = _at_once(
        sessions,
        lambda s: import_lines(s, [line("B-7", "100.00"), line("B-8", "5.00")], NOW),
        lambda s: import_lines(s, [line("B-7", "250.00")], NOW),
    )
    assert isinstance(results[0], list) and len(results[0]) == 1, results
    assert isinstance(results[1], LedgerError), results
    assert "bank_reference: B-7 is already imported as 100.00 USD" in str(results[1])
    twice = [line("B-9", "10.00"), line("B-9", "12.00")]
    with (
        pytest.raises(LedgerError, match="bank_reference: B-9 is in the file twice"),
        transaction(sessions) as session,
    ):
        import_lines(session, twice, NOW)
    with sessions() as session:
        stored = session.execute(
            select(BankStatementLine.bank_reference, BankStatementLine.amount).order_by(
                BankStatementLine.bank_reference
            )
        ).all()
    assert stored == [("B-7", Decimal("100.00")), ("B-8", Decimal("5.00"))]
