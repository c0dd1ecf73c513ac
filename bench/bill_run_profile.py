"""Where a persisted bill run's batch spends its time, on both sides of the connection.

    python -m bench.bill_run_profile [--count 2000] [--batch 500] [--closed] [--cprofile N]

Seeds a throwaway PostgreSQL ledger as ``bench.bill_run --persist`` does, then runs the
batch activity's work in this process, one batch per transaction, and prints:

- per statement (SQL text, COPY by table): calls and wall time, from SQLAlchemy's cursor
  events and around ``copy_rows``;
- PL/pgSQL functions (the period-lock triggers among them): calls and total/self time,
  from ``pg_stat_user_functions`` with ``track_functions = 'pl'`` for this session;
- CPU of this process (``time.process_time``) and of the PostgreSQL backend serving it
  (``/proc/<pid>/stat``: the server runs on this machine), per subscription;
- with ``--cprofile N``, the N costliest functions of this process by cumulative time.

``--closed`` signs off October 2026 first, so the period-lock triggers check every row
against a closed period as a ledger in use does (the bill run issues on 1 December).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from bench.bill_run import NOW, PERIOD, _drop, _ledger_url, seed_ledger, sign_off


def _backend_cpu(pid: int) -> float:
    """User and system CPU seconds of a local process (fields 14 and 15 of its stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class StatementTimes:
    """Wall time per statement text, from the engine's cursor events."""

    def __init__(self, engine: Engine) -> None:
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.add(" ".join(statement.split())[:110], time.perf_counter() - self._started.pop())

    def add(self, key: str, seconds: float) -> None:
        total = self.totals[key]
        total[0] += 1
        total[1] += seconds


@contextmanager
def _timed_copies(times: StatementTimes) -> Iterator[None]:
    """Time every ``copy_rows`` call by its COPY statement (the module's own function)."""
    from activities.ledger import bulk

    original = bulk.copy_rows

    def timed(session: Any, copy_sql: str, rows: Iterable[Sequence[Any]]) -> None:
        started = time.perf_counter()
        original(session, copy_sql, rows)
        times.add(copy_sql.split("(")[0], time.perf_counter() - started)

    bulk.copy_rows = timed
    try:
        yield
    finally:
        bulk.copy_rows = original


def profile(count: int, batch: int, closed: bool, top: int) -> None:
    from activities.billing.pricebook import load_pricebook
    from activities.billing.seller import load_seller
    from activities.billing.tax import load_tax_table
    from activities.ledger.db import make_engine, session_factory, transaction
    from activities.recurring.batch import bill_batch
    from activities.recurring.bill_run import Billing, due_subscriptions, issued_in_run
    from activities.recurring.policy import load_policy

    url, schema = _ledger_url("postgresql")
    try:
        seed_ledger(url, count)
        if closed:
            sign_off(url)
        engine = make_engine(url)
        pids: list[int] = []

        def track(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET track_functions = 'pl'")
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(cursor.fetchone()[0])
            dbapi_connection.commit()

        event.listen(engine, "connect", track)
        times = StatementTimes(engine)
        sessions = session_factory(engine)
        billing = Billing(load_pricebook(), load_tax_table(), load_policy())
        seller = load_seller()
        with engine.connect():
            pass
        profiler = cProfile.Profile() if top else None
        backend, started, wall = _backend_cpu(pids[0]), time.process_time(), time.perf_counter()
        after = ""
        with _timed_copies(times):
            if profiler:
                profiler.enable()
            while True:
                with sessions() as session:
                    ids = due_subscriptions(session, PERIOD[1].date(), after=after, limit=batch)
                if not ids:
                    break
                after = ids[-1]
                with transaction(sessions) as session:
                    bill_batch(session, ids, PERIOD[1].date(), billing, seller, actor="b", now=NOW)
                with sessions() as session:
                    issued_in_run(session, PERIOD[1].date(), ids)
            if profiler:
                profiler.disable()
        wall = time.perf_counter() - wall
        ours, theirs = time.process_time() - started, _backend_cpu(pids[0]) - backend
        assert len(pids) == 1, f"one connection expected, {len(pids)} opened"
        print(f"{count:,} subscriptions, batches of {batch}, closed period: {closed}")
        print(f"wall {wall:.2f} s = {count / wall:,.0f} invoices/s")
        print(f"CPU per subscription: this process {ours / count * 1e3:.3f} ms, "
              f"PostgreSQL backend {theirs / count * 1e3:.3f} ms")  # fmt: skip
        print("\nstatements by wall time (calls, seconds, ms per subscription):")
        for key, (calls, seconds) in sorted(times.totals.items(), key=lambda kv: -kv[1][1])[:25]:
            print(f"  {calls:6d} {seconds:8.3f} {seconds / count * 1e3:7.3f}  {key}")
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_stat_force_next_flush()"))
            rows = connection.execute(
                text(
                    "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions "
                    "WHERE schemaname = current_schema() ORDER BY total_time DESC"
                )
            ).all()
        print("\nPL/pgSQL functions (calls, total ms, self ms, total ms per subscription):")
        for name, calls, total, own in rows:
            print(f"  {calls:8d} {total:10.1f} {own:10.1f} {total / count:7.3f}  {name}")
        engine.dispose()
        if profiler:
            print()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(top)
    finally:
        _drop(schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--closed", action="store_true", help="sign October 2026 off first")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    profile(args.count, args.batch, args.closed, args.cprofile)


if __name__ == "__main__":
    main()
