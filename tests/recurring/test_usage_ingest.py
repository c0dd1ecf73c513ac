"""Usage ingest at scale and beside other writers: files larger than one batch (written
by a second thread on PostgreSQL while the next batch is checked) count every line once,
and usage keeps arriving while a bill run or a change holds the subscription's lock."""

from __future__ import annotations

import csv
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.pricebook import load_pricebook
from activities.ledger.db import transaction
from activities.ledger.models import UsageEvent
from activities.recurring.changes import lock_subscription
from activities.recurring.usage import BATCH, IngestSummary, ingest, read_records
from tests.recurring.factories import subscription

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)


def write_usage(path: Path, events: int) -> tuple[int, int, int]:
    """A CSV over two subscriptions crossing several batch boundaries: every 97th line
    repeats an event of an earlier batch as it was sent then, every 1,001st names a metric
    the subscription lacks. Returns the (accepted, duplicate, refused) it must give on an
    empty ledger."""
    accepted = duplicate = refused = 0
    with path.open("w", newline="") as stream:
        out = csv.writer(stream)
        out.writerow(("subscription_id", "event_id", "metric", "quantity", "occurred_at"))
        for n in range(events):
            sub = ("SUB-A", "SUB-B")[n % 2]
            at = (NOW - timedelta(minutes=n % 40_000)).isoformat()
            if n % 1001 == 1000:
                out.writerow((sub, f"bad-{n}", "sms", 1, at))
                refused += 1
            elif n % 97 == 96 and n > BATCH:
                earlier = n - BATCH - 1  # an event of an earlier batch, same subscription
                earlier -= earlier % 2 != n % 2
                while earlier % 1001 == 1000 or earlier % 97 == 96:
                    earlier -= 2
                owner = ("SUB-A", "SUB-B")[earlier % 2]
                sent = (NOW - timedelta(minutes=earlier % 40_000)).isoformat()
                out.writerow((owner, f"ev-{earlier}", "api_calls", 3, sent))
                duplicate += 1
            else:
                out.writerow((sub, f"ev-{n}", "api_calls", 3, at))
                accepted += 1
    return accepted, duplicate, refused


@pytest.fixture
def ledger(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        for name in ("SUB-A", "SUB-B"):
            subscription(session, name, anchor=ANCHOR, now=NOW, usage=("api_calls",))
    return sessions


def run(sessions: sessionmaker[Session], path: Path) -> IngestSummary:
    with path.open(encoding="utf-8", newline="") as stream:
        return ingest(sessions, read_records(stream, path.name), book=load_pricebook(), now=NOW)


def stored(sessions: sessionmaker[Session]) -> tuple[int, object]:
    with sessions() as session:
        count, total = session.execute(select(func.count(), func.sum(UsageEvent.quantity))).one()
    return count, total


def test_a_file_of_several_batches_counts_every_line_once(
    ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "usage.csv"
    accepted, duplicate, refused = write_usage(path, 3 * BATCH + 123)
    first = run(ledger, path)
    assert (first.accepted, first.duplicate, len(first.refused)) == (accepted, duplicate, refused)
    assert first.lines == 3 * BATCH + 123
    assert all("metric: 'sms' is not a usage add-on" in reason for _, reason in first.refused)
    assert stored(ledger)[0] == accepted
    assert float(str(stored(ledger)[1])) == accepted * 3
    again = run(ledger, path)  # the same file sent twice adds nothing
    assert (again.accepted, again.duplicate) == (0, accepted + duplicate)
    assert stored(ledger)[0] == accepted


def test_two_ingests_of_one_file_at_the_same_instant_store_each_event_once(
    engine: Engine, ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "usage.csv"
    accepted, duplicate, _ = write_usage(path, 2 * BATCH + 50)
    results: list[IngestSummary | BaseException] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        try:
            results.append(run(ledger, path))
        except BaseException as error:  # reported by the assertion below
            results.append(error)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    summaries = [r for r in results if isinstance(r, IngestSummary)]
    assert len(summaries) == 2, results
    assert sum(s.accepted for s in summaries) == accepted
    assert sum(s.duplicate for s in summaries) == 2 * duplicate + accepted
    assert stored(ledger)[0] == accepted


def test_usage_arrives_while_a_bill_run_holds_the_subscription(
    engine: Engine, ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    """The bill run and a change lock the subscription; an event's foreign key takes a
    key-share lock on it. With ``FOR UPDATE`` the ingest waited for the whole bill-run
    batch, and could deadlock with it (its lines name subscriptions in file order, the
    batch locks them in id order); ``FOR NO KEY UPDATE`` lets usage in at once."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole transactions")
    path = tmp_path / "usage.csv"
    write_usage(path, 500)
    done = threading.Event()
    outcome: list[IngestSummary] = []

    def ingest_now() -> None:
        outcome.append(run(ledger, path))
        done.set()

    with transaction(ledger) as holder:
        lock_subscription(holder, "SUB-B")
        lock_subscription(holder, "SUB-A")
        thread = threading.Thread(target=ingest_now)
        thread.start()
        took_turns = done.wait(15)
    thread.join(60)
    assert took_turns, "the usage ingest waited for the lock on the subscription"
    assert outcome and outcome[0].accepted == stored(ledger)[0] > 0


def test_an_event_sent_again_with_other_content_is_refused(
    ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    """Same (subscription, event id) and same metric, quantity and time: a duplicate,
    whatever the spelling (3.000, another offset). Anything different: refused on its
    line, against the ledger and against an earlier line of the file, and the held
    event stays as it was."""
    at = NOW - timedelta(days=2)
    path = tmp_path / "first.csv"
    path.write_text(
        "subscription_id,event_id,metric,quantity,occurred_at\n"
        f"SUB-A,ev-1,api_calls,3,{at.isoformat()}\n"
        f"SUB-A,ev-2,api_calls,4,{at.isoformat()}\n"
    )
    first = run(ledger, path)
    assert (first.accepted, first.duplicate, first.refused) == (2, 0, [])
    later = (at + timedelta(seconds=1)).isoformat()
    path = tmp_path / "again.csv"
    path.write_text(
        "subscription_id,event_id,metric,quantity,occurred_at\n"
        f"SUB-A,ev-1,api_calls,3.000,{at.astimezone(timezone(timedelta(hours=2))).isoformat()}\n"
        f"SUB-A,ev-2,api_calls,5,{at.isoformat()}\n"
        f"SUB-A,ev-3,api_calls,2,{at.isoformat()}\n"
        f"SUB-A,ev-3,api_calls,2,{at.isoformat()}\n"
        f"SUB-A,ev-3,api_calls,2,{later}\n"
        f"SUB-A,ev-2,api_calls,5,{at.isoformat()}\n"  # line 3 again: refused as line 3 is
    )
    again = run(ledger, path)
    assert (again.accepted, again.duplicate) == (1, 2)
    assert [number for number, _ in again.refused] == [3, 6, 7]
    assert again.refused[0][1] == (
        "event_id: 'ev-2' of SUB-A was already received with other content (metric "
        f"api_calls, quantity 4, occurred_at {at.isoformat()}); a corrected event needs a "
        "new event id"
    )
    assert "event_id: 'ev-3' of SUB-A was already received" in again.refused[1][1]
    with ledger() as session:
        held = session.scalar(select(UsageEvent.quantity).where(UsageEvent.event_id == "ev-2"))
    assert held == 4
