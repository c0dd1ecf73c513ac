"""The close on the lead's seeded demo book (three months of activity through the invoicing
engine and the payment code)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.close.report import CloseReport
from activities.ledger.db import transaction
from activities.ledger.seed import seed_demo_book

Report = Callable[[sessionmaker[Session], str], CloseReport]

MONTHS = ("2026-09", "2026-10", "2026-11")
#: Record-level checks whose amounts are their effect on the roll-forward's difference.
BEHIND_A_DIFFERENCE = ("dated_before_invoice", "balance_off_history")


@pytest.fixture
def demo_book(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        seed_demo_book(session, count=80, seed=7, today=date(2026, 12, 2))
    return sessions


def test_every_difference_is_the_sum_of_the_records_behind_it(
    demo_book: sessionmaker[Session], close_report: Report
) -> None:
    for month in MONTHS:
        report = close_report(demo_book, month)
        assert len(report.roll_forward) >= 3, "the demo book sells in several currencies"
        for rf in report.roll_forward:
            behind = sum(
                (
                    e.amount or Decimal(0)
                    for e in report.exceptions
                    if e.check in BEHIND_A_DIFFERENCE and e.currency == rf.currency
                ),
                Decimal(0),
            )
            assert rf.difference == behind, (month, rf.currency)


def test_the_roll_forward_ties_to_zero_in_every_currency(
    demo_book: sessionmaker[Session], close_report: Report
) -> None:
    for month in MONTHS:
        report = close_report(demo_book, month)
        assert [(rf.currency, rf.difference) for rf in report.roll_forward if rf.difference] == []
        assert report.blocking == ()
