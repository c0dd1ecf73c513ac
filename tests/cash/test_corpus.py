"""The matcher against a generated statement corpus over the demo book.

2,400 lines of every kind a cash analyst meets (exact payments, invoice numbers
written loosely or with a typo, one payment for several invoices, short and over
payments, unknown payers, foreign currency, payers naming someone else's invoice)
go through two overlapping camt.053 files into the ledger and then through the
matcher. Automatic applications must never be wrong; most lines with a right
answer must be applied without a person.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.cash.matcher import Book
from activities.cash.statements import read_statement
from activities.cash.store import import_lines, load_book
from activities.ledger.db import make_engine, migrate, session_factory
from activities.ledger.models import BankStatementLine, Customer
from activities.ledger.seed import seed_demo_book
from tests.cash.corpus import CorpusLine, generate, iban, score
from tests.cash.files import BankLine, camt053
from tests.conftest import NOW

LINES = 2400
THRESHOLD = 0.9


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'ledger.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        seed_demo_book(session, count=300, seed=7, today=date(2026, 11, 2))
    yield sessions
    engine.dispose()


@pytest.fixture(scope="module")
def corpus(demo: sessionmaker[Session]) -> tuple[Book, list[CorpusLine]]:
    with demo() as session:
        ledger_book = load_book(session)
        names = {
            r.id: r.legal_name for r in session.execute(select(Customer.id, Customer.legal_name))
        }
    invoices = list(ledger_book.by_key.values())
    learned = {c for c in names if int(c[4:]) % 2 == 0}
    book = Book(invoices, {c: [n] for c, n in names.items()}, {iban(c): c for c in learned})
    return book, generate(invoices, names, learned, LINES)


def test_automatic_applications_are_never_wrong_and_most_lines_need_nobody(
    corpus: tuple[Book, list[CorpusLine]],
) -> None:
    book, lines = corpus
    result = score(lines, book, THRESHOLD)
    print("\n" + result.report())
    assert result.lines == LINES
    assert {kind for kind, _ in result.wrong} == set(), result.wrong[:3]
    assert result.precision == 1.0
    assert result.recall > 0.85
    # what must never be applied without a person
    for kind in ("unknown_payer", "foreign_currency", "someone_elses_invoice"):
        automatic, total = result.by_kind[kind]
        assert total > 0 and automatic == 0, kind


def test_two_overlapping_statement_files_import_each_line_once(
    demo: sessionmaker[Session], corpus: tuple[Book, list[CorpusLine]], tmp_path: Path
) -> None:
    _, lines = corpus
    bank = [
        BankLine(
            f"CORPUS-{n:05d}",
            c.line.amount,
            c.line.currency,
            c.line.payer_name,
            c.line.payer_account,
            c.line.remittance,
        )
        for n, c in enumerate(lines)
    ]
    monday, tuesday = tmp_path / "monday.xml", tmp_path / "tuesday.xml"
    monday.write_bytes(camt053(bank[:1500], "MON"))
    tuesday.write_bytes(camt053(bank[1000:], "TUE"))
    with demo.begin() as session:
        first = import_lines(session, read_statement(monday, None), NOW)
    with demo.begin() as session:
        second = import_lines(session, read_statement(tuesday, None), NOW)
        again = import_lines(session, read_statement(monday, None), NOW)
        stored = session.scalar(select(func.count()).select_from(BankStatementLine))
    assert (len(first), len(second), len(again)) == (1500, LINES - 1500, 0)
    assert stored == LINES
