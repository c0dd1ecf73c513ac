"""Payments applied per second with 1, 2 and 4 concurrent writer processes on PostgreSQL.

Each writer records payments through the store (``record_payment``: row locks,
applications, audit), one transaction per payment, on customers shared by all
writers, so writers meet on the same rows. Beside it, in the same run and with
the same number of writers, the floor: the bare statements that work needs
(insert the payment, update two invoice balances, insert two applications and
three audit entries) sent as plain SQL with no lock, no check and no ORM. The
figure that matters is the ratio store / floor; the ledger's invariants are
checked after every store run.

    .venv/bin/python bench/payments_concurrency.py               # 600 payments per writer count
    .venv/bin/python bench/payments_concurrency.py --payments 300 --writers 1,2,4
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url

from activities.ledger.db import make_engine, migrate, session_factory, transaction
from activities.ledger.models import Customer, Invoice, InvoiceStatus
from activities.ledger.payments import PaymentIn, record_payment

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
CUSTOMERS = 40
INVOICES_PER_CUSTOMER = 40
PAYMENT = Decimal("150.00")  # pays one invoice of 100 and half of the next


@contextmanager
def throwaway_schema(base: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def book(engine: Engine) -> None:
    """Customers with many open invoices of 100, enough for every payment of the run."""
    with engine.begin() as connection:
        connection.execute(
            insert(Customer),
            [
                {
                    "id": f"B{c:04d}",
                    "legal_name": f"Bench {c}",
                    "country": "US",
                    "timezone": "UTC",
                    "currency": "USD",
                    "payment_terms_days": 30,
                    "address_line1": "1 Main St",
                    "city": "Town",
                    "tax_exempt": False,
                    "po_required": False,
                    "do_not_dun": False,
                    "strategic": False,
                    "created_at": NOW,
                }
                for c in range(CUSTOMERS)
            ],
        )
        hundred = Decimal("100.00")
        connection.execute(
            insert(Invoice),
            [
                {
                    "number": f"INV-{c:04d}-{i:04d}",
                    "customer_id": f"B{c:04d}",
                    "currency": "USD",
                    "status": InvoiceStatus.OPEN,
                    "issue_date": date(2026, 11, 1),
                    "due_date": date(2026, 12, 1 + i % 28),
                    "subtotal": hundred,
                    "discount_total": Decimal(0),
                    "tax_total": Decimal(0),
                    "total": hundred,
                    "credit_applied": Decimal(0),
                    "amount_due": hundred,
                    "balance": hundred,
                    "created_at": NOW,
                }
                for c in range(CUSTOMERS)
                for i in range(INVOICES_PER_CUSTOMER)
            ],
        )


def store_writer(url: str, writer: int, writers: int, count: int, barrier: Any, done: Any) -> None:
    sessions = session_factory(make_engine(url))
    payments = [
        PaymentIn(f"B{(writer + n) % CUSTOMERS:04d}", f"w{writer}-{n}", PAYMENT, "USD", NOW)
        for n in range(count)
    ]
    barrier.wait()
    for payment in payments:
        with transaction(sessions) as session:
            record_payment(session, payment, "bench")
    done.put(writer)


_FLOOR = (
    "INSERT INTO payments (processor_id, customer_id, currency, amount, unapplied, refunded, "
    "method, received_at) VALUES (:p, :c, 'USD', 150, 0, 0, 'wire', :at) RETURNING id",
    "UPDATE invoices SET balance = balance - :x WHERE id = :i",
    "INSERT INTO payment_applications (payment_id, invoice_id, amount, applied_at) "
    "VALUES (:pay, :i, :x, :at)",
    "INSERT INTO audit_log (at, actor, action, subject_type, subject_id, before, after) "
    "VALUES (:at, 'bench', 'payment.applied', 'invoice', :p, '{}', '{}')",
)


def floor_writer(url: str, writer: int, writers: int, count: int, barrier: Any, done: Any) -> None:
    """The same writes as bare statements: no lock, no read, no check, no ORM.

    They leave a book that adds up, as the database checks at commit (migration 0025):
    each writer pays, on each customer, invoices of its own share of the customer's
    invoices, a whole one (100.00) and half of the next (50.00), as the store does."""
    share = INVOICES_PER_CUSTOMER // writers
    if 2 * ((count - 1) // CUSTOMERS) + 1 >= share:
        raise SystemExit(f"--payments: at most {CUSTOMERS * share // 2 * writers} for the floor")
    engine = make_engine(url)
    barrier.wait()
    for n in range(count):
        customer = (writer + n) % CUSTOMERS
        with engine.begin() as connection:
            processor_id = f"f{writer}-{n}"
            payment_id = connection.execute(
                text(_FLOOR[0]), {"p": processor_id, "c": f"B{customer:04d}", "at": NOW}
            ).scalar_one()
            for k, amount in enumerate((100, 50)):
                slot = writer * share + 2 * (n // CUSTOMERS) + k
                invoice_id = 1 + customer * INVOICES_PER_CUSTOMER + slot
                connection.execute(text(_FLOOR[1]), {"x": amount, "i": invoice_id})
                connection.execute(
                    text(_FLOOR[2]),
                    {"pay": payment_id, "i": invoice_id, "x": amount, "at": NOW},
                )
            for _ in range(3):
                connection.execute(text(_FLOOR[3]), {"at": NOW, "p": processor_id})
    done.put(writer)


def timed(url: str, target: Any, writers: int, total: int) -> float:
    """Payments per second for ``writers`` processes sharing ``total`` payments."""
    context = multiprocessing.get_context("forkserver")
    barrier = context.Barrier(writers + 1)
    done = context.Queue()
    processes = [
        context.Process(target=target, args=(url, w, writers, total // writers, barrier, done))
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for _ in processes:
        done.get(timeout=600)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return (total // writers * writers) / elapsed


def invariants(url: str) -> list[str]:
    try:
        from activities.ledger.invariants import violations
    except ImportError:  # a checkout older than the invariants module
        return ["(no invariant checker in this checkout)"]
    with session_factory(make_engine(url))() as session:
        return violations(session)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=600)
    parser.add_argument("--writers", default="1,2,4")
    parser.add_argument("--no-floor", action="store_true")
    args = parser.parse_args()
    base = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    print(f"{args.payments} payments of {PAYMENT} on {CUSTOMERS} shared customers, PostgreSQL")
    print("writers  store/s  floor/s  store/floor  invariants")
    for writers in (int(w) for w in args.writers.split(",")):
        with throwaway_schema(base) as url:
            engine = make_engine(url)
            migrate(engine)
            book(engine)
            store = timed(url, store_writer, writers, args.payments)
            broken = invariants(url)
        floor = float("nan")
        if not args.no_floor:
            with throwaway_schema(base) as url:
                engine = make_engine(url)
                migrate(engine)
                book(engine)
                floor = timed(url, floor_writer, writers, args.payments)
        verdict = "hold" if not broken else f"{len(broken)} broken: {broken[0]}"
        print(f"{writers:>7}  {store:7.1f}  {floor:7.1f}  {store / floor:11.2f}  {verdict}")


if __name__ == "__main__":
    main()
