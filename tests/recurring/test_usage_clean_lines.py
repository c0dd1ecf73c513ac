"""Clean CSV lines: the usage ingest reads a line in the documented column order with one
strict pattern instead of csv.reader and a dict, and copies it to PostgreSQL as its own
text. Nothing a sender sees may change: on an adversarial corpus (odd whitespace, unicode
digits, signs, exponents, NaN, leap seconds, impossible dates, naive times, offsets up to
PostgreSQL's limit and past it, 101-character ids, quotes, quoted newlines, BOM, CRLF,
blank lines, extra and missing columns, another column order) the records, the line
numbers, the summary and the stored events are those of csv.reader and ``parse_event``."""

from __future__ import annotations

import csv
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.pricebook import load_pricebook
from activities.ledger.db import transaction
from activities.ledger.models import UsageEvent
from activities.recurring.usage import FIELDS, IngestSummary, ingest, read_records
from tests.recurring.factories import subscription

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
DAY = "2026-11-30T00:00:00"
HEADER = ",".join(FIELDS)

#: Spellings of each field, the clean ones first; many are refused, some are taken by
#: parse_event only (" SUB-A", "+1", "١٢"), some only look clean.
SUBSCRIPTIONS = ["SUB-A", "SUB-B", " SUB-A", "SUB-A ", "\tSUB-B", "SUB-A\u00a0", "SUB-NONE", ""]
EVENTS = [
    "ev-1", "ev-2", "ev-3", "e#+\\'!~", "x" * 100, "x" * 101, " ev-1", "ev-2\u2003", "évè",
    '"ev,4"', '"ev""5"', '"ev\n6"', '"ev-1"', "",
]  # fmt: skip
METRICS = ["api_calls", "sms", " api_calls", "API_CALLS", ""]
QUANTITIES = [
    "3", "0", "000000000003", "999999999999", "1000000000000", "1000000000001", "3.000",
    "+3", "1e3", " 3", "3 ", "NaN", "-1", "1.1234567", "١٢", "1_000", "0x10", "", '"3"',
]  # fmt: skip
TIMES = [
    f"{DAY}+00:00", f"{DAY}Z", f"{DAY}.5Z", f"{DAY}.123456+02:00", f"{DAY}-05:30",
    f"{DAY}+14:00", f"{DAY}+14:59", f"{DAY}+15:00", f"{DAY}+23:59", f"{DAY}.1234567Z",
    f"{DAY}z", DAY, "2026-11-30 00:00:00+00:00", "2026-11-30T24:00:00Z",
    "2026-11-30T23:59:60Z", "2026-02-30T00:00:00Z", "2026-11-30T00:00Z", "20261130T000000Z",
    f"{DAY},5Z", "0000-11-30T00:00:00Z", "2026-12-01T00:11:00Z", "2026-01-01T00:00:00Z",
    "2026-11-30T00:00:00+0000", "٢٠٢٦-11-30T00:00:00Z", '"2026-11-30T00:00:00Z"',
]  # fmt: skip
TERMINATORS = ["\n", "\r\n", "\r"]


def adversarial_lines(count: int, seed: int) -> Iterator[str]:
    """Lines mixing the spellings above (clean spellings weighted, and 400 event ids, so
    that many events are taken with every clean time and quantity, and repeats and
    conflicting resends of one event meet in both paths), and broken lines."""
    rng = random.Random(seed)
    for _ in range(count):
        roll = rng.random()
        if roll < 0.03:
            yield rng.choice(["", ",,,,", "\ufeff" + HEADER, "SUB-A,ev-9", "only one field"])
            continue
        fields = [
            rng.choice(SUBSCRIPTIONS[:2] if rng.random() < 0.6 else SUBSCRIPTIONS),
            f"ev-{rng.randrange(400)}" if rng.random() < 0.5 else rng.choice(EVENTS),
            rng.choice(METRICS[:1] if rng.random() < 0.7 else METRICS),
            rng.choice(QUANTITIES[:2] if rng.random() < 0.5 else QUANTITIES),
            rng.choice(TIMES[:2] if rng.random() < 0.5 else TIMES),
        ]
        if roll < 0.06:
            fields.append("extra")
        elif roll < 0.08:
            fields.pop()
        yield ",".join(fields)


def write(path: Path, lines: list[str], seed: int, header: str = HEADER) -> Path:
    """The lines with terminators picked at random (a file may mix them), a BOM-less header."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as stream:
        stream.write(header + "\r\n")
        for line in lines:
            stream.write(line + rng.choice(TERMINATORS))
    return path


def reference(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """The records as the ingest read every CSV line before clean lines: csv.reader and a
    zip, blank lines skipped, numbered by csv.reader's physical line count."""
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, [])
        return [(reader.line_num, dict(zip(header, row, strict=False))) for row in reader if row]


def read(path: Path) -> list[tuple[int, Any]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(read_records(stream, path.name))


@pytest.mark.parametrize("seed", range(6))
def test_a_clean_line_stands_for_the_record_csv_reader_gives(tmp_path: Path, seed: int) -> None:
    """Every record at the same line number; a clean line (a tuple) is exactly the
    reference's dict, with ids that parse_event's strip and length rules leave as they are."""
    path = write(tmp_path / "usage.csv", list(adversarial_lines(3000, seed)), seed)
    ours, theirs = read(path), reference(path)
    assert [number for number, _ in ours] == [number for number, _ in theirs]
    clean = 0
    for (number, record), (_, expected) in zip(ours, theirs, strict=True):
        if isinstance(record, tuple):
            clean += 1
            assert dict(zip(FIELDS, record, strict=True)) == expected, number
            for value in record[:3]:
                assert value == value.strip() and 1 <= len(value) <= 100, (number, value)
        else:
            assert record == expected, number
    assert 200 < clean < len(ours)  # both paths were taken


def test_another_column_order_is_read_as_before(tmp_path: Path) -> None:
    order = ["occurred_at", "quantity", "metric", "event_id", "subscription_id"]
    path = tmp_path / "usage.csv"
    path.write_text(f"{','.join(order)}\n{DAY}Z,3,api_calls,ev-1,SUB-A\n")
    assert (
        read(path)
        == reference(path)
        == [(2, dict(zip(order, f"{DAY}Z,3,api_calls,ev-1,SUB-A".split(","), strict=True)))]
    )


@pytest.fixture
def ledger(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        for name in ("SUB-A", "SUB-B"):
            subscription(session, name, anchor=ANCHOR, now=NOW, usage=("api_calls",))
    return sessions


def events(sessions: sessionmaker[Session]) -> list[tuple[object, ...]]:
    with sessions() as session:
        rows = session.execute(
            select(
                UsageEvent.subscription_id,
                UsageEvent.event_id,
                UsageEvent.metric,
                UsageEvent.quantity,
                UsageEvent.occurred_at,
            ).order_by(UsageEvent.subscription_id, UsageEvent.event_id)
        ).all()
    return [(s, e, m, q, at.astimezone(UTC) if at.tzinfo else at) for s, e, m, q, at in rows]


def take(sessions: sessionmaker[Session], records: list[tuple[int, Any]]) -> IngestSummary:
    return ingest(sessions, records, book=load_pricebook(), now=NOW)


@pytest.mark.parametrize("seed", range(3))
def test_the_ingest_of_an_adversarial_file_is_the_reference_ingest(
    ledger: sessionmaker[Session], tmp_path: Path, seed: int
) -> None:
    """The same summary (accepted, duplicate, refused lines with their reasons, sorted
    by line) and the same stored events, on an empty ledger and sent again, whether the
    lines are read clean or all through csv.reader."""
    lines = list(adversarial_lines(2500, seed))
    path = write(tmp_path / "usage.csv", lines, seed)
    again = write(tmp_path / "again.csv", list(reversed(lines)), seed + 1)
    outcomes = []
    for reading in (read, reference):
        first = take(ledger, reading(path))
        second = take(ledger, reading(again))
        outcomes.append((first, second, events(ledger)))
        with transaction(ledger) as session:
            session.execute(delete(UsageEvent))
    (first, second, stored), expected = outcomes
    assert first == expected[0]
    assert second == expected[1]
    assert stored == expected[2]
    assert first.accepted > 300 and first.duplicate > 100 and len(first.refused) > 500
    assert any("already received with other content" in reason for _, reason in first.refused)


def test_overlapping_clean_and_spelled_out_files_at_the_same_instant_store_each_event_once(
    ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    """The race of the file ingest (tests/recurring/test_usage_ingest.py) with one file
    all clean lines and the other the same events spelled so that csv.reader reads them
    (quoted ids, a padded quantity, a Z for +00:00), plus events of its own: each event
    is stored once, no ingest fails or waits for ever, and the counts add up."""
    total = 25_000
    clean = tmp_path / "clean.csv"
    spelled = tmp_path / "spelled.csv"
    with clean.open("w", newline="") as a, spelled.open("w", newline="") as b:
        a.write(HEADER + "\n")
        b.write(HEADER + "\r\n")
        for n in range(total):
            sub = ("SUB-A", "SUB-B")[n % 2]
            at = (NOW - timedelta(minutes=n % 40_000)).isoformat()
            if n < 20_000:
                a.write(f"{sub},ev-{n},api_calls,2,{at}\n")
            if n >= 5_000:
                spelled_at = at.replace("+00:00", "Z") if n % 2 else at
                b.write(f'"{sub}",ev-{n},api_calls, 2,{spelled_at}\r\n')
    results: list[IngestSummary | BaseException] = []
    barrier = threading.Barrier(2)

    def go(path: Path) -> None:
        barrier.wait()
        try:
            results.append(take(ledger, read(path)))
        except BaseException as error:  # reported by the assertion below
            results.append(error)

    threads = [threading.Thread(target=go, args=(path,)) for path in (clean, spelled)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    summaries = [r for r in results if isinstance(r, IngestSummary)]
    assert len(summaries) == 2, results
    assert sum(s.accepted for s in summaries) == total
    assert sum(s.duplicate for s in summaries) == 15_000
    assert all(s.refused == [] for s in summaries)
    stored = events(ledger)
    assert len(stored) == total and {float(str(q)) for _, _, _, q, _ in stored} == {2.0}
