"""Two processes at the same instant on PostgreSQL: two workers billing one subscription (or
overlapping batches), a change racing the bill run, and blocks of invoice numbers. The row
locks make them take turns; each period is invoiced once and the change lands wholly in
one period or the other."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.seller import load_seller
from activities.ledger.db import transaction
from activities.ledger.errors import LedgerError
from activities.ledger.models import Invoice, SubscriptionEvent, SubscriptionPeriod
from activities.ledger.numbering import take_numbers
from activities.recurring.batch import bill_batch
from activities.recurring.bill_run import bill_subscription
from activities.recurring.changes import ChangeRequest, change_subscription
from tests.recurring.factories import billing, subscription


@pytest.fixture
def postgres_sessions(engine: Engine, sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """PostgreSQL only: SQLite has no row locks (it serialises writers instead)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole transactions")
    return sessions


ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
NOW = datetime(2026, 12, 14, 12, tzinfo=UTC)
DAY = date(2026, 12, 15)


def together(*work: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def go(index: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = job()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=go, args=(i, job)) for i, job in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def bill(sessions: sessionmaker[Session]) -> Any:
    with transaction(sessions) as session:
        return bill_subscription(session, "SUB-R", DAY, billing(), actor="workflow:w", now=NOW)


def test_two_workers_bill_a_subscription_once(postgres_sessions: sessionmaker[Session]) -> None:
    sessions = postgres_sessions
    with transaction(sessions) as session:
        subscription(session, "SUB-R", anchor=ANCHOR, now=NOW)
    outcomes = together(lambda: bill(sessions), lambda: bill(sessions))
    kinds = sorted(o[0].outcome for o in outcomes)
    assert kinds == ["invoiced", "not_due"]
    with sessions() as session:
        assert len(session.scalars(select(Invoice.id)).all()) == 1


def test_a_change_racing_the_bill_run_lands_in_one_period(
    postgres_sessions: sessionmaker[Session],
) -> None:
    sessions = postgres_sessions
    with transaction(sessions) as session:
        subscription(session, "SUB-R", anchor=ANCHOR, now=NOW, seats=10)
    b = billing()

    def change() -> Any:
        with transaction(sessions) as session:
            return change_subscription(
                session,
                ChangeRequest(
                    subscription_id="SUB-R",
                    kind="seats",
                    seats=15,
                    at=datetime(2026, 12, 14, 18, tzinfo=UTC),
                    actor="cli:ana",
                    idempotency_key="race-1",
                ),
                book=b.book,
                taxes=b.taxes,
                policy=b.policy,
                now=NOW,
                apply=True,
            )

    changed, billed = together(change, lambda: bill(sessions))
    with sessions() as session:
        invoice = session.scalars(select(Invoice)).one()
        events = session.scalars(select(SubscriptionEvent)).all()
        period = session.get(SubscriptionPeriod, "SUB-R")
        assert period is not None and period.period_start == datetime(2026, 12, 15, tzinfo=UTC)
        if isinstance(changed, LedgerError):
            # The bill run went first: the period moved on and the change, dated in the old
            # one, is refused with nothing written.
            assert "before the current period started" in str(changed) and events == []
            assert [line.item_code for line in invoice.lines] == ["business"]
        else:
            # The change went first: the renewal bills its seats.
            assert len(events) == 1
            assert any("5 seats added" in line.description for line in invoice.lines)
    assert billed[0].outcome == "invoiced"


BATCH = [f"SUB-B{n:02d}" for n in range(12)]


def batch(sessions: sessionmaker[Session], ids: list[str], worker: str) -> Any:
    with transaction(sessions) as session:
        return bill_batch(
            session, ids, DAY, billing(), load_seller(), actor=f"workflow:{worker}", now=NOW
        )


def test_two_workers_bill_overlapping_batches_once_with_gapless_numbers(
    postgres_sessions: sessionmaker[Session],
) -> None:
    """Two batches sharing half their subscriptions, one listing them backwards, and a lone
    bill of one of them, all at once: the row locks (taken in id order) make them take
    turns without a deadlock; every period is invoiced once under one unbroken series."""
    sessions = postgres_sessions
    with transaction(sessions) as session:
        for sub in BATCH:
            subscription(session, sub, anchor=ANCHOR, now=NOW)
    first, second, lone = together(
        lambda: batch(sessions, BATCH[:8], "one"),
        lambda: batch(sessions, list(reversed(BATCH[4:])), "two"),
        lambda: bill_subscription_of(sessions, BATCH[5]),
    )
    for result in (first, second, lone):
        assert not isinstance(result, Exception), result
    invoiced = [o.subscription_id for o in first.outcomes + second.outcomes if o.invoice]
    invoiced += [o.subscription_id for o in lone if o.outcome == "invoiced"]
    assert sorted(invoiced) == BATCH  # each exactly once, whoever got there first
    with sessions() as session:
        rows = session.execute(select(Invoice.subscription_id, Invoice.number)).all()
        periods = session.scalars(select(SubscriptionPeriod.period_start)).all()
    assert sorted(sub or "" for sub, _ in rows) == BATCH
    assert sorted(number or "" for _, number in rows) == [f"INV-{n:06d}" for n in range(1, 13)]
    assert set(periods) == {datetime(2026, 12, 15, tzinfo=UTC)}


def bill_subscription_of(sessions: sessionmaker[Session], sub: str) -> Any:
    with transaction(sessions) as session:
        return bill_subscription(session, sub, DAY, billing(), actor="workflow:lone", now=NOW)


def test_blocks_of_numbers_taken_at_once_never_overlap_or_leave_gaps(
    postgres_sessions: sessionmaker[Session],
) -> None:
    sessions = postgres_sessions

    def take(count: int, fail: bool) -> list[str]:
        with transaction(sessions) as session:
            numbers = take_numbers(session, "TST", count)
            if fail:
                raise RuntimeError("the batch failed after taking its block")
            return numbers

    results = together(*[lambda n=n: take(5 + n, n % 3 == 2) for n in range(6)])
    kept = [n for r in results if isinstance(r, list) for n in r]
    assert sum(isinstance(r, RuntimeError) for r in results) == 2
    assert sorted(kept) == [f"TST-{n:06d}" for n in range(1, len(kept) + 1)]
