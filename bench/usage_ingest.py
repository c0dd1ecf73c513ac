"""Usage ingest benchmark: N events from a generated CSV file into a fresh ledger, through
``billing-ops usage ingest``'s code (``read_records`` then ``ingest``: every line checked,
batches copied into PostgreSQL and moved in skipping events already held).

    python bench/usage_ingest.py [--events 1000000 2000000] [--backend postgresql|sqlite]

Each size runs in its own process, so its peak resident memory is its own: flat memory
as the file grows means the two peaks match. The file has 1,000 subscriptions, 1 % of its
lines repeat an earlier event (duplicates) and 0.1 % name a metric the subscription does
not have (refused). Beside it, in the same process, two floors: the same file read by
``read_records`` alone (the CSV reader, no checks, no database), and the database's own
work on the same rows (the accepted rows, already checked, copied and moved in by the
ingest's own statements, batch by batch, one at a time, only the database calls timed).
The ingest overlaps the checks with the writes and, on PostgreSQL, writes two streams
of batches at once (``usage.STREAMS``), so it can beat that serial floor (a ratio below
1); the database floor is the one it is compared with.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.floor import Row

SUBSCRIPTIONS = 1000
NOW = datetime(2026, 12, 1, tzinfo=UTC)
START = datetime(2026, 11, 1, tzinfo=UTC)
GOAL = 100_000  # events per second into PostgreSQL (issue 16)


def write_file(path: Path, events: int, seed: int = 7) -> None:
    """The usage file: CSV with a header, events spread over the month."""
    rng = random.Random(seed)
    span = int((NOW - START).total_seconds()) - 1
    with path.open("w", newline="") as stream:
        out = csv.writer(stream)
        out.writerow(("subscription_id", "event_id", "metric", "quantity", "occurred_at"))
        for n in range(events):
            roll = rng.random()
            event = n if roll >= 0.01 or n == 0 else rng.randrange(n)  # 1 %: sent again
            sub = event % SUBSCRIPTIONS
            metric = "sms" if roll > 0.999 else "api_calls"
            at = START + timedelta(seconds=(event * 7919) % span)
            out.writerow((f"S{sub:05d}", f"ev-{event}", metric, event % 500 + 1, at.isoformat()))


def seed_ledger(url: str) -> None:
    """Customers and subscriptions with the API-calls usage add-on (not timed)."""
    from sqlalchemy import insert

    from activities.ledger.db import make_engine, migrate
    from activities.ledger.models import Customer, Subscription, SubscriptionItem

    engine = make_engine(url)
    migrate(engine)
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(Customer),
            [
                {
                    "id": f"C{i:05d}",
                    "legal_name": f"Bench {i}",
                    "country": "US",
                    "timezone": "UTC",
                    "currency": "USD",
                    "payment_terms_days": 30,
                    "address_line1": "1 Main St",
                    "city": "Austin",
                    "tax_exempt": False,
                    "po_required": False,
                    "do_not_dun": False,
                    "strategic": False,
                    "created_at": anchor,
                }
                for i in range(SUBSCRIPTIONS)
            ],
        )
        connection.execute(
            insert(Subscription),
            [
                {
                    "id": f"S{i:05d}",
                    "customer_id": f"C{i:05d}",
                    "plan": "business",
                    "interval": "month",
                    "contract_type": "self_serve_monthly",
                    "status": "active",
                    "currency": "USD",
                    "term_start": anchor,
                    "term_end": datetime(2029, 1, 1, tzinfo=UTC),
                    "billing_anchor": anchor,
                    "created_at": anchor,
                }
                for i in range(SUBSCRIPTIONS)
            ],
        )
        connection.execute(
            insert(SubscriptionItem),
            [
                {
                    "subscription_id": f"S{i:05d}",
                    "item_code": "api_calls",
                    "kind": "usage_addon",
                    "quantity": 0,
                    "unit_price": 0,
                }
                for i in range(SUBSCRIPTIONS)
            ],
        )
    engine.dispose()


def database_floor(url: str, path: Path) -> float:
    """Seconds the database takes for the file's rows: each batch checked untimed, then
    copied and moved in by the ingest's own statements (timed), then the table emptied
    again for the product's run. One batch at a time is held, as the ingest holds it."""
    from sqlalchemy import text

    from activities.billing.pricebook import load_pricebook
    from activities.ledger.db import make_engine, session_factory
    from activities.recurring.usage import (
        BATCH,
        Pending,
        UsageRefused,
        _insert,
        _Known,
        check_event,
        parse_event,
        read_records,
    )

    engine = make_engine(url)
    sessions = session_factory(engine)
    seconds = 0.0
    with sessions() as reader, path.open(encoding="utf-8", newline="") as stream:
        known = _Known(reader, load_pricebook())
        known.prefetch(f"S{i:05d}" for i in range(SUBSCRIPTIONS))
        batch: dict[tuple[str, str], Pending] = {}

        def write() -> float:
            started = time.perf_counter()
            with sessions.begin() as session:
                _insert(session, list(batch.values()), NOW)
            batch.clear()
            return time.perf_counter() - started

        for _, record in read_records(stream, path.name):
            if isinstance(record, str):
                continue
            try:
                if isinstance(record, tuple):  # a clean line: checked, copied as its text
                    row, line = check_event(*record, known, NOW), ",".join(record)
                else:
                    row, line = parse_event(record, known, NOW), None
            except UsageRefused:
                continue
            batch[row[0], row[1]] = (row, line)
            if len(batch) >= BATCH:
                seconds += write()
        if batch:
            seconds += write()
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE usage_events"))
    engine.dispose()
    return seconds


def one(events: int, backend: str, floors: bool = True) -> dict[str, float]:
    """One size, in this process: generate, seed, time the floors (unless ``floors`` is
    false: at 10 million events the database floor takes as long as the run) and the
    ingest."""
    from activities.billing.pricebook import load_pricebook
    from activities.ledger.db import make_engine, session_factory
    from activities.recurring.usage import ingest, read_records
    from bench.bill_run import _drop, _ledger_url

    folder = Path(tempfile.mkdtemp(prefix="usage-"))
    path = folder / "usage.csv"
    write_file(path, events)
    url, schema = _ledger_url(backend)
    try:
        seed_ledger(url)
        floor = database = 0.0
        if floors:
            started = time.perf_counter()
            with path.open(encoding="utf-8", newline="") as stream:
                lines = sum(1 for _ in read_records(stream, path.name))
            floor = lines / (time.perf_counter() - started)
            if backend == "postgresql":
                database = events / database_floor(url, path)
        engine = make_engine(url)
        sessions = session_factory(engine)
        started = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as stream:
            summary = ingest(
                sessions, read_records(stream, path.name), book=load_pricebook(), now=NOW
            )
        seconds = time.perf_counter() - started
        engine.dispose()
    finally:
        _drop(schema)
        path.unlink()
    return {
        "events": events,
        "accepted": summary.accepted,
        "duplicate": summary.duplicate,
        "refused": len(summary.refused),
        "seconds": seconds,
        "rate": events / seconds,
        "floor": floor,
        "database": database,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(events: int, backend: str, floors: bool = True) -> dict[str, float]:
    """:func:`one` in a fresh process (its own peak memory)."""
    command = [sys.executable, "-m", "bench.usage_ingest", "--one", str(events)]
    done = subprocess.run(
        [*command, "--backend", backend, *([] if floors else ["--no-floors"])],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def bench_rows(sizes: tuple[int, ...] = (100_000,), backend: str = "postgresql") -> list[Row]:
    """For ``python -m bench``: events ingested per second beside the database's own work
    on the same rows (and, in the work's name, the CSV reader's rate). The issue's goal
    is absolute (100,000 events/s); as a ratio to this run's floor it is
    ``floor / 100,000`` (below 1 when the database alone cannot reach it)."""
    found = []
    for size in sizes:
        run = measure(size, backend)
        work = (
            f"usage ingest into {backend}, {size:,} events (peak {run['peak_mib']:,.0f} MiB; "
            f"CSV reader alone {run['floor']:,.0f} lines/s)"
        )
        floor = float(run["database"])
        found.append(
            Row(work, float(run["rate"]), floor, "events/s", floor / GOAL, higher_is_better=True)
        )
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 2_000_000])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--no-floors", action="store_true", help="time the ingest alone (for 10 million events)"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    floors = not args.no_floors
    if args.one:
        print(json.dumps(one(args.one, args.backend, floors)), flush=True)
        return
    for size in args.events:
        run = measure(size, args.backend, floors)
        if not floors:
            print(
                f"{size:,} events into {args.backend}: {run['accepted']:,.0f} accepted, "
                f"{run['duplicate']:,.0f} duplicate, {run['refused']:,.0f} refused in "
                f"{run['seconds']:.1f} s = {run['rate']:,.0f} events/s (goal {GOAL:,}; "
                f"no floors timed); peak resident memory {run['peak_mib']:,.0f} MiB",
                flush=True,
            )
            continue
        print(
            f"{size:,} events into {args.backend}: {run['accepted']:,.0f} accepted, "
            f"{run['duplicate']:,.0f} duplicate, {run['refused']:,.0f} refused in "
            f"{run['seconds']:.1f} s = {run['rate']:,.0f} events/s (goal {GOAL:,}); floor "
            f"(CSV reader alone) {run['floor']:,.0f} lines/s; floor (the database's own "
            f"work on the same rows) {run['database']:,.0f} events/s, "
            f"ratio {run['database'] / run['rate']:.2f}x; "
            f"peak resident memory {run['peak_mib']:,.0f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
