"""Bill run benchmark: invoice 100,000 subscriptions in memory, on one core.

Every subscription is invoiced at the end of its current billing period, as a
monthly bill run does: the changes made during the period (seat changes,
upgrades and downgrades, add-ons, pauses, cancellations), the next period in
advance, and the period's metered usage in arrears, with tax, discounts and
account credit. The mix is generated from a fixed seed (see ``make_jobs``).

    python bench/bill_run.py [--count 100000] [--seed 7] [--tracemalloc]
    python bench/bill_run.py --digest            # sha256 of every draft of the mix
    python bench/bill_run.py --persist sqlite|postgresql [--count 20000] [--workers 1 2]

``bill_run`` yields the drafts one by one. ``--persist`` runs the product's bill run
batch path (activities/recurring/batch.py, as the BillRun workflow's batch activity
calls it: lock, price from the ledger, store with bulk inserts, move the periods on,
record and audit) on a fresh SQLite file or throwaway PostgreSQL schema
(``TEST_DATABASE_URL``, default the local server) with 1 and 2 worker processes, next
to the in-memory engine's rate for the same subscriptions measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from activities.billing.invoicing import (
    AddonAdded,
    AddonQuantityChanged,
    Cancelled,
    Discount,
    Event,
    InvoiceDraft,
    InvoiceTerms,
    Paused,
    PlanChanged,
    Resumed,
    SeatsAdded,
    SeatsRemoved,
    Subscription,
    draft_invoice,
)
from activities.billing.money import ROUNDING, quantum, round_money
from activities.billing.pricebook import PriceBook, SeatPrice, load_pricebook
from activities.billing.proration import (
    DEFAULT_POLICY,
    INTERVAL_MONTHS,
    PRESETS,
    Interval,
    ProrationPolicy,
    shift_months,
)
from activities.billing.tax import TaxTreatment, load_tax_table, tax_treatment
from activities.billing.usage import UsageCharge
from bench.floor import Row

_T = TypeVar("_T")

#: The run invoices the periods that end in this month (July: every anchor day exists).
RUN_MONTH = (2025, 7)
CURRENCIES = (("USD", 55), ("EUR", 25), ("GBP", 12), ("JPY", 8))
JURISDICTIONS = {
    "USD": (
        ("US-CA", 30),
        ("US-NY", 20),
        ("US-TX", 15),
        ("US-WA", 10),
        ("US-FL", 15),
        ("CA-ON", 10),
    ),
    "EUR": (("DE", 40), ("FR", 25), ("NL", 15), ("IE", 10), ("ES", 10)),
    "GBP": (("GB", 100),),
    "JPY": (("JP", 100),),
}
PLANS = (("plus", 45), ("business", 40), ("enterprise", 15))
SEATS = {"plus": (1, 50), "business": (5, 500), "enterprise": (25, 2000)}
INTERVALS: tuple[tuple[Interval, int], ...] = (("month", 70), ("quarter", 5), ("year", 25))
#: Issue 15's contract fields, each on a small share of the run: a period of several
#: months, a plan billed in arrears (seat-days), an add-on with its own quantity.
MULTI_MONTH_SHARE = 0.03
ARREARS_SHARE = 0.03
OWN_QUANTITY_SHARE = 0.03
UPGRADE = {"plus": "business", "business": "enterprise"}
DOWNGRADE = {"business": "plus", "enterprise": "business"}


@dataclass(frozen=True, slots=True)
class BillingJob:
    """One subscription's invoice in the run: everything ``draft_invoice`` needs."""

    subscription: Subscription
    events: tuple[Event, ...]
    usage: tuple[UsageCharge, ...]
    terms: InvoiceTerms
    policy: ProrationPolicy


def bill_run(jobs: Iterable[BillingJob]) -> Iterator[InvoiceDraft]:
    """The drafts of a bill run, one per job, computed in memory (nothing is stored)."""
    for job in jobs:
        yield draft_invoice(
            job.subscription,
            job.events,
            terms=job.terms,
            policy=job.policy,
            usage=job.usage,
            renew=True,
        )


#: Every preset in the mix, so each knob (anchor kept, daily-price upgrades, credits
#: subtracted, Kill Bill's period length, 30-day months) is paid for in the figure.
POLICIES: tuple[tuple[ProrationPolicy, int], ...] = (
    (DEFAULT_POLICY, 60),
    (PRESETS["stripe_like"], 10),
    (PRESETS["chargebee_like"], 6),
    (PRESETS["zuora_30_day"], 6),
    (PRESETS["killbill_like"], 6),
    (PRESETS["lago_calendar"], 6),
    (PRESETS["lago_anniversary"], 6),
)


def _pick(rng: random.Random, weighted: tuple[tuple[_T, int], ...]) -> _T:
    values = [value for value, _ in weighted]
    return rng.choices(values, weights=[weight for _, weight in weighted])[0]


def make_jobs(count: int, seed: int) -> list[BillingJob]:
    """A realistic mix: most subscriptions just renew, a third changed something."""
    rng = random.Random(seed)
    book = load_pricebook()
    table = load_tax_table()
    taxes: dict[tuple[str, bool, bool], TaxTreatment] = {}
    jobs = []
    for _ in range(count):
        currency = _pick(rng, CURRENCIES)
        jurisdiction = _pick(rng, JURISDICTIONS[currency])
        exempt = rng.random() < 0.05
        vat_id = currency == "EUR" and rng.random() < 0.6
        key = (jurisdiction, exempt, vat_id)
        if key not in taxes:
            taxes[key] = tax_treatment(
                table, jurisdiction, exempt=exempt, vat_id="EU123" if vat_id else None
            )
        jobs.append(_job(rng, book, currency, taxes[key]))
    return jobs


def _job(rng: random.Random, book: PriceBook, currency: str, tax: TaxTreatment) -> BillingJob:
    plan_code = _pick(rng, PLANS)
    interval = _pick(rng, INTERVALS)
    low, high = SEATS[plan_code]
    seats = min(high, low + int(rng.paretovariate(1.6)) - 1)
    count = rng.choice((2, 6)) if interval == "month" and rng.random() < MULTI_MONTH_SHARE else 1
    # A period that ends in the month of the run, anchored on a typical day.
    months = INTERVAL_MONTHS[interval] * count
    anchor_day = rng.choice((1, 1, 1, 15, 28, 31))
    anchor = shift_months(datetime(RUN_MONTH[0], RUN_MONTH[1], anchor_day, tzinfo=UTC), -months)
    period_end = shift_months(anchor, months)
    addons = tuple(
        _times(book.addon_price(code, interval, currency, plan_code), count)
        for code, chance in (("advanced_security", 0.3), ("premium_support", 0.2))
        if plan_code in book.seat_addons[code].plans and rng.random() < chance
    )
    plan = _times(book.plan_price(plan_code, interval, currency), count)
    if rng.random() < ARREARS_SHARE:
        plan = replace(plan, in_arrears=True)
    quantities: tuple[tuple[str, int], ...] = ()
    if rng.random() < OWN_QUANTITY_SHARE:
        pack = round_money(plan.unit_amount / 5, currency)
        addons = (*addons, SeatPrice("storage_pack", "Storage pack", pack))
        quantities = (("storage_pack", rng.randint(1, 20)),)
    subscription = Subscription(
        currency,
        anchor,
        interval,
        plan,
        seats,
        addons,
        period_start=anchor,
        addon_quantities=quantities,
        interval_count=count,
    )
    span = (period_end - anchor) * 0.95
    events = _events(rng, book, subscription, plan_code, span)
    usage = _usage(rng, book, currency, plan_code, anchor, period_end)
    discounts = (
        (Discount("SAVE", percent=Decimal(rng.choice((10, 15, 20)))),) if rng.random() < 0.1 else ()
    )
    credit = Decimal(rng.randrange(1, 200) * 5) if rng.random() < 0.05 else Decimal(0)
    terms = InvoiceTerms(
        period_end.date(),
        payment_terms_days=rng.choice((14, 30, 30, 45, 60)),
        po_number=f"PO-{rng.randrange(10**6):06d}" if rng.random() < 0.3 else None,
        tax=tax,
        discounts=discounts,
        account_credit=credit if currency != "JPY" else credit * 100,
    )
    policy = _pick(rng, POLICIES)
    if count > 1 and policy.anchor_on_change != "reset":
        policy = DEFAULT_POLICY  # its changes keep the interval; any policy prices them
    return BillingJob(subscription, events, usage, terms, policy)


def _times(price: SeatPrice, count: int) -> SeatPrice:
    """The price for a period of ``count`` intervals (the book prices one)."""
    return price if count == 1 else replace(price, unit_amount=price.unit_amount * count)


def _events(
    rng: random.Random, book: PriceBook, sub: Subscription, plan_code: str, span: timedelta
) -> tuple[Event, ...]:
    def when(fraction: float) -> datetime:
        return sub.anchor + span * fraction

    roll = rng.random()
    seats = sub.seats
    if sub.addon_quantities and roll < 0.5:
        code, quantity = sub.addon_quantities[0]
        return (AddonQuantityChanged(when(rng.random()), code, quantity + rng.randint(1, 5)),)
    if roll < 0.66:
        return ()
    if roll < 0.81:
        return (SeatsAdded(when(rng.random()), rng.randint(1, 10)),)
    if roll < 0.86 and seats > 1:
        return (SeatsRemoved(when(rng.random()), rng.randint(1, max(1, seats // 5))),)
    if roll < 0.89 and plan_code in UPGRADE:
        new = book.plan_price(UPGRADE[plan_code], sub.interval, sub.currency)
        return (PlanChanged(*_new_plan(sub, new, when(rng.random()))),)
    if roll < 0.91 and plan_code in DOWNGRADE:
        new = book.plan_price(DOWNGRADE[plan_code], sub.interval, sub.currency)
        return (PlanChanged(*_new_plan(sub, new, when(rng.random()))),)
    if roll < 0.92 and not sub.addons:
        addon = book.addon_price("premium_support", sub.interval, sub.currency, plan_code)
        return (AddonAdded(when(rng.random()), _times(addon, sub.interval_count)),)
    if roll < 0.93:
        first, second = sorted((rng.random(), rng.random()))
        return (Paused(when(first)), Resumed(when(second)))
    if roll < 0.94:
        return (Cancelled(when(rng.random())),)
    first, second, third = sorted((rng.random(), rng.random(), rng.random()))
    removed = rng.randint(1, max(1, seats // 4)) if seats > 1 else 0
    changes: list[Event] = [SeatsAdded(when(first), rng.randint(1, 5))]
    if removed:
        changes.append(SeatsRemoved(when(second), removed))
    changes.append(SeatsAdded(when(third), rng.randint(1, 5)))
    return tuple(changes)


def _new_plan(
    sub: Subscription, new: SeatPrice, at: datetime
) -> tuple[datetime, SeatPrice, Interval, tuple[SeatPrice, ...], int]:
    """A change of plan in the same interval, priced like the plan it replaces."""
    price = replace(_times(new, sub.interval_count), in_arrears=sub.plan.in_arrears)
    return at, price, sub.interval, (), sub.interval_count


def _usage(
    rng: random.Random,
    book: PriceBook,
    currency: str,
    plan_code: str,
    start: datetime,
    end: datetime,
) -> tuple[UsageCharge, ...]:
    charges = []
    for code, chance, scale in (
        ("api_calls", 0.6, 2_000_000),
        ("storage", 0.25, 3_000),
        ("ai_credits", 0.1, 150_000),
        ("sms", 0.05, 20_000),
    ):
        if rng.random() < chance:
            addon = book.usage_addon(code)
            units = Decimal(int(rng.expovariate(1 / scale)))
            invoiced = (
                Decimal(int(units * Decimal(rng.random()))) if rng.random() < 0.05 else Decimal(0)
            )
            price = book.usage_price(code, currency, plan_code)
            charges.append(
                UsageCharge(code, addon.name, addon.unit, start, end, units, price, invoiced)
            )
    return tuple(charges)


def decimal_floor(drafts: list[InvoiceDraft]) -> float:
    """CPU seconds of the least any engine does for these invoices: each line's amount,
    discount and tax as Decimal products rounded to the currency's minor unit by the one
    rule, summed per invoice. Inputs are read from the drafts before the clock starts."""
    work = [
        (
            quantum(draft.currency),
            [
                (line.quantity, line.unit_amount, line.proration_fraction,
                 line.discount_amount, line.tax_rate)
                for line in draft.lines
            ],
        )
        for draft in drafts
    ]  # fmt: skip
    started = time.process_time()
    for unit, lines in work:
        total = Decimal(0)
        for quantity, price, fraction, discount, rate in lines:
            amount = (quantity * price * fraction).quantize(unit, ROUNDING)
            net = amount - discount.quantize(unit, ROUNDING)
            total += net + (net * rate).quantize(unit, ROUNDING)
    return time.process_time() - started


def drafts_digest(drafts: Iterable[InvoiceDraft]) -> str:
    """A sha256 of every figure and word of ``drafts``: each line's fields (amount, discount,
    tax, description, times, fraction...) and each invoice's totals and notes, so that a
    change made for speed can show it left every draft as it was."""
    digest = hashlib.sha256()
    for draft in drafts:
        digest.update(repr(draft).encode())
    return digest.hexdigest()


#: The issue's goal: the engine within 3x of the Decimal floor.
GOAL_RATIO = 3.0


def bench_rows(count: int = 20_000, seed: int = 7) -> list[Row]:
    """The engine's invoices per second (CPU) beside the Decimal floor of the same lines,
    then the stored bill run beside the engine (:func:`persisted_rows`)."""
    jobs = make_jobs(count, seed)
    gc.collect()
    started = time.process_time()
    drafts = list(bill_run(jobs))
    engine = time.process_time() - started
    floor = decimal_floor(drafts)
    lines = sum(len(draft.lines) for draft in drafts)
    return [
        Row(
            f"bill run in memory, {count:,} invoices ({lines:,} lines), CPU",
            count / engine, count / floor, "invoices/s", GOAL_RATIO, higher_is_better=True,
        ),
        *persisted_rows(),
    ]  # fmt: skip


NOW = datetime(2026, 12, 1, 1, tzinfo=UTC)
#: The ledger's run: monthly subscriptions renewing on 1 December 2026.
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
#: Every seventh subscription added seats during the period (an event row to price).
CHANGED_EVERY = 7


def _seats(index: int) -> int:
    return 10 + index % 50


def _added(index: int) -> int:
    return 1 + index % 5 if index % CHANGED_EVERY == 0 else 0


def _changed_at(index: int) -> datetime:
    return PERIOD[0] + timedelta(days=3 + index % 20, hours=index % 24)


def ledger_jobs(count: int) -> list[BillingJob]:
    """The ledger run's subscriptions as the engine takes them, for the in-memory floor."""
    book = load_pricebook()
    price = book.plan_price("business", "month", "USD")
    tax = tax_treatment(load_tax_table(), "US-TX")
    return [
        BillingJob(
            Subscription("USD", ANCHOR, "month", price, _seats(i), period_start=PERIOD[0]),
            (SeatsAdded(_changed_at(i), _added(i)),) if _added(i) else (),
            (),
            InvoiceTerms(PERIOD[1].date(), tax=tax),
            DEFAULT_POLICY,
        )
        for i in range(count)
    ]


def in_memory_rate(jobs: list[BillingJob]) -> float:
    """Invoices per second of the pure engine over ``jobs`` (nothing stored), wall clock
    like the persisted figure: on a shared machine both lose the same share of a core."""
    gc.collect()
    started = time.perf_counter()
    for _ in bill_run(jobs):
        pass
    return len(jobs) / (time.perf_counter() - started)


def _ledger_url(backend: str) -> tuple[str, str | None]:
    """A fresh ledger: a SQLite file, or a throwaway PostgreSQL schema (its name returned)."""
    import tempfile
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from activities.ledger.db import make_engine

    if backend == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='bill-run-')}/ledger.sqlite", None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with make_engine(_base_url()).begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def _base_url() -> str:
    import os

    return os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _drop(schema: str | None) -> None:
    from sqlalchemy import text

    from activities.ledger.db import make_engine

    if schema:
        with make_engine(_base_url()).begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def seed_ledger(url: str, count: int) -> None:
    """Customers, subscriptions, items, periods and seat changes for ``count`` monthly
    subscriptions due on 1 December 2026, with Core bulk inserts (not timed)."""
    from sqlalchemy import insert

    from activities.ledger.db import make_engine, migrate
    from activities.ledger.models import (
        Customer,
        SubscriptionEvent,
        SubscriptionItem,
        SubscriptionPeriod,
    )
    from activities.ledger.models import Subscription as SubscriptionRow

    price = load_pricebook().plan_price("business", "month", "USD").unit_amount
    engine = make_engine(url)
    migrate(engine)
    step = 20_000
    with engine.begin() as connection:
        for low in range(0, count, step):
            span = range(low, min(count, low + step))
            connection.execute(
                insert(Customer),
                [
                    {
                        "id": f"C{i:07d}",
                        "legal_name": f"Bench {i}",
                        "country": "US",
                        "timezone": "UTC",
                        "currency": "USD",
                        "payment_terms_days": 30,
                        "address_line1": "1 Main St",
                        "city": "Austin",
                        "region": "US-TX",
                        "tax_exempt": False,
                        "po_required": False,
                        "do_not_dun": False,
                        "strategic": False,
                        "created_at": ANCHOR,
                    }
                    for i in span
                ],
            )
            connection.execute(
                insert(SubscriptionRow),
                [
                    {
                        "id": f"S{i:07d}",
                        "customer_id": f"C{i:07d}",
                        "plan": "business",
                        "interval": "month",
                        "contract_type": "self_serve_monthly",
                        "status": "active",
                        "currency": "USD",
                        "term_start": ANCHOR,
                        "term_end": datetime(2029, 1, 1, tzinfo=UTC),
                        "billing_anchor": ANCHOR,
                        "created_at": ANCHOR,
                    }
                    for i in span
                ],
            )
            connection.execute(
                insert(SubscriptionItem),
                [
                    {
                        "subscription_id": f"S{i:07d}",
                        "item_code": "business",
                        "kind": "plan",
                        "quantity": _seats(i) + _added(i),
                        "unit_price": price,
                    }
                    for i in span
                ],
            )
            opening = {"plan": "business", "interval": "month", "paused": False}
            connection.execute(
                insert(SubscriptionPeriod),
                [
                    {
                        "subscription_id": f"S{i:07d}",
                        "period_start": PERIOD[0],
                        "period_end": PERIOD[1],
                        "lines_invoiced": 0,
                        "opening": {
                            **opening,
                            "items": [
                                {
                                    "item_code": "business",
                                    "kind": "plan",
                                    "quantity": _seats(i),
                                    "unit_price": str(price),
                                }
                            ],
                        }
                        if _added(i)
                        else None,
                        "updated_at": ANCHOR,
                    }
                    for i in span
                ],
            )
            changes = [
                {
                    "subscription_id": f"S{i:07d}",
                    "kind": "seats_added",
                    "effective_at": _changed_at(i),
                    "seats": _added(i),
                    "actor": "cli:bench",
                    "source": "cli",
                    "idempotency_key": f"bench:{i}",
                    "recorded_at": _changed_at(i),
                }
                for i in span
                if _added(i)
            ]
            if changes:
                connection.execute(insert(SubscriptionEvent), changes)
    engine.dispose()


#: The month signed off before the run (the run issues on 1 December 2026): a ledger in use
#: has closed months, so the period lock checks every stored row against one.
SIGNED_OFF = (2026, 10)


def sign_off(url: str) -> None:
    """Sign :data:`SIGNED_OFF` off, as the month-end close does (not timed)."""
    from activities.ledger.db import make_engine, session_factory, transaction
    from activities.ledger.periods import Period, lock_period

    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        lock_period(
            session,
            Period(*SIGNED_OFF),
            timezone="UTC",
            closing_ar={},
            signed_off_by="bench",
            signed_off_at=ANCHOR.replace(year=2026, month=11, day=3),
            workflow_id="close-bench",
        )
    engine.dispose()


def _worker(url: str, batches: Any, results: Any, ready: Any) -> None:
    """One worker process: the batch activity's work (recurring/batch.py, then the run's
    records read back for hand-over) for each batch it takes, until told to stop."""
    from activities.billing.seller import load_seller
    from activities.ledger.db import make_engine, session_factory, transaction
    from activities.recurring.batch import bill_batch
    from activities.recurring.bill_run import Billing, issued_in_run
    from activities.recurring.policy import load_policy

    engine = make_engine(url)
    sessions = session_factory(engine)
    billing = Billing(load_pricebook(), load_tax_table(), load_policy())
    issued = skipped = 0
    ready.set()
    while (ids := batches.get()) is not None:
        with transaction(sessions) as session:
            done = bill_batch(
                session, ids, PERIOD[1].date(), billing, load_seller(), actor="bench", now=NOW
            )
        with sessions() as session:
            issued += len(issued_in_run(session, PERIOD[1].date(), ids))
        skipped += len(done.skipped)
    results.put((issued, skipped))
    engine.dispose()


@dataclass(frozen=True, slots=True)
class PersistedRun:
    backend: str
    count: int
    workers: int
    batch: int
    seconds: float
    invoices: int
    numbers_gapless: bool
    copy_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.invoices / self.seconds

    @property
    def copy_rate(self) -> float | None:
        """Invoices/s of the COPY floor (:func:`copy_floor`), when it was measured."""
        return None if self.copy_seconds is None else self.invoices / self.copy_seconds


def persisted_run(
    count: int, backend: str, workers: int, batch: int, *, floor: bool = False
) -> PersistedRun:
    """Seed a fresh ledger with October 2026 signed off (:func:`sign_off`), then time the bill
    run's batch path for every due subscription: the due query (as the workflow pages it)
    feeding ``workers`` processes. Afterwards the ledger must hold one invoice per
    subscription under an unbroken series. With ``floor`` (PostgreSQL), also time
    :func:`copy_floor` of the rows the run stored."""
    import multiprocessing

    from sqlalchemy import func, select

    from activities.ledger.db import make_engine, session_factory
    from activities.ledger.models import Invoice
    from activities.recurring.bill_run import due_subscriptions

    url, schema = _ledger_url(backend)
    try:
        seed_ledger(url, count)
        sign_off(url)
        context = multiprocessing.get_context("spawn")
        batches = context.Queue(maxsize=4 * workers)
        results = context.Queue()
        ready = [context.Event() for _ in range(workers)]
        processes = [
            context.Process(target=_worker, args=(url, batches, results, ready[n]))
            for n in range(workers)
        ]
        for process in processes:
            process.start()
        for event in ready:
            event.wait(120)
        engine = make_engine(url)
        sessions = session_factory(engine)
        started = time.perf_counter()
        after = ""
        with sessions() as session:
            while ids := due_subscriptions(session, PERIOD[1].date(), after=after, limit=batch):
                batches.put(ids)
                after = ids[-1]
        for _ in processes:
            batches.put(None)
        totals = [results.get() for _ in processes]
        seconds = time.perf_counter() - started
        for process in processes:
            process.join()
        with sessions() as session:
            numbers = session.scalar(select(func.count(Invoice.id)))
            highest = session.scalar(select(func.max(Invoice.number)))
        engine.dispose()
        invoices = sum(issued for issued, _ in totals)
        gapless = invoices == numbers == count and highest == f"INV-{count:06d}"
        copied = copy_floor(url, count, batch) if floor and schema else None
        return PersistedRun(backend, count, workers, batch, seconds, invoices, gapless, copied)
    finally:
        _drop(schema)


#: What the batch path writes, table by table, in the order it writes them.
STORED = ("invoices", "invoice_lines", "audit_log", "bill_run_items")


def copy_floor(url: str, count: int, batch: int) -> float:
    """Seconds to COPY the rows the run stored (invoices, lines, audit entries, run records)
    into a fresh ledger seeded alike (October signed off too), a batch's share per
    transaction, through the product's ``copy_rows``: the database's share of the run (same
    indexes, constraints and triggers) with nothing priced, read or moved on. Wall clock,
    one process, like the run."""
    import psycopg
    from psycopg.types.json import Json
    from sqlalchemy.engine import make_url

    from activities.ledger.bulk import copy_rows
    from activities.ledger.db import make_engine, session_factory, transaction

    def plain(value: Any) -> Any:
        return Json(value) if isinstance(value, dict | list) else value

    source = make_url(url).set(drivername="postgresql")
    batches = -(-count // batch)
    copies: list[tuple[str, list[list[tuple[Any, ...]]]]] = []
    with psycopg.connect(source.render_as_string(hide_password=False)) as connection:
        ids = [row[0] for row in connection.execute("SELECT id FROM invoices ORDER BY id")]
        share = -(-len(ids) // batches)
        where = {invoice_id: n // share for n, invoice_id in enumerate(ids)}  # its batch
        for table in STORED:
            cursor = connection.execute(f"SELECT * FROM {table} ORDER BY id")
            names = [column.name for column in cursor.description or ()]
            key = names.index("invoice_id" if "invoice_id" in names else "id")
            chunks: list[list[tuple[Any, ...]]] = [[] for _ in range(batches)]
            rows = cursor.fetchall()
            for n, row in enumerate(rows):
                # Lines and records go with their invoice; audit entries evenly, in order.
                evenly = n * batches // len(rows)
                chunk = evenly if table == "audit_log" else where.get(row[key], evenly)
                chunks[chunk].append(tuple(plain(value) for value in row))
            copies.append((f"COPY {table} ({', '.join(names)}) FROM STDIN", chunks))
    target, schema = _ledger_url("postgresql")
    try:
        seed_ledger(target, count)
        sign_off(target)
        engine = make_engine(target)
        sessions = session_factory(engine)
        started = time.perf_counter()
        for n in range(batches):
            with transaction(sessions) as session:
                for copy_sql, chunks in copies:
                    copy_rows(session, copy_sql, chunks[n])
        seconds = time.perf_counter() - started
        engine.dispose()
        return seconds
    finally:
        _drop(schema)


def persisted_rows(
    count: int = 5_000, backend: str = "postgresql", workers: tuple[int, ...] = (1, 2)
) -> list[Row]:
    """Persisted invoices/s (wall clock, batch path, fresh ledger) per worker count beside
    the in-memory engine's rate for the same subscriptions in the same run; the goal is
    a quarter of it (issue 16), a ratio of 4."""
    floor = in_memory_rate(ledger_jobs(count))
    found = []
    for n in workers:
        run = persisted_run(count, backend, n, batch=_batch_size())
        if not run.numbers_gapless:
            raise RuntimeError(f"{n} worker(s): {run.invoices} invoices for {count}, or a gap")
        work = f"bill run stored on {backend}, {count:,} subscriptions, {n} worker(s)"
        found.append(Row(work, run.rate, floor, "invoices/s", 4.0, higher_is_better=True))
    return found


def _batch_size() -> int:
    from activities.recurring.policy import load_policy

    return load_policy().bill_run.batch_size


def persist(count: int, backend: str, args: argparse.Namespace) -> None:
    """Print each worker count's persisted rate next to the in-memory floor of this run."""
    floor = in_memory_rate(ledger_jobs(count))
    print(f"in-memory engine, the same {count:,} subscriptions: {floor:,.0f} invoices/s (wall)")
    for index, workers in enumerate(args.workers):
        first = index == 0 and backend == "postgresql"
        run = persisted_run(count, backend, workers, args.batch or _batch_size(), floor=first)
        print(
            f"stored on {backend}, {workers} worker(s), batches of {run.batch}: "
            f"{run.invoices:,} invoices in {run.seconds:.1f} s = {run.rate:,.0f} invoices/s "
            f"(wall clock); ratio to in-memory {run.rate / floor:.3f} (goal 0.25); "
            f"one invoice each, numbers gapless: {'yes' if run.numbers_gapless else 'NO'}"
        )
        if run.copy_rate is not None:
            print(
                f"second floor, COPY of the same rows alone (a batch per transaction): "
                f"{run.copy_rate:,.0f} invoices/s; its ratio to in-memory "
                f"{run.copy_rate / floor:.3f}; the run / the COPY floor: "
                f"{run.rate / run.copy_rate:.3f}"
            )
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--count", type=int, help="subscriptions (default 100,000; with --persist 20,000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also measure the Python heap peak (slower)"
    )
    parser.add_argument(
        "--persist",
        choices=("sqlite", "postgresql"),
        help="run the product's bill run batch path on a fresh ledger (default --count 20000)",
    )
    parser.add_argument(
        "--digest", action="store_true", help="print a sha256 of every draft, then stop"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, help="subscriptions per batch (default: config)")
    args = parser.parse_args(argv)
    if args.persist:
        persist(args.count or 20_000, args.persist, args)
        sys.stdout.flush()
        return

    started = time.perf_counter()
    jobs = make_jobs(args.count or 100_000, args.seed)
    print(f"generated {len(jobs):,} subscriptions in {time.perf_counter() - started:.1f} s")
    if args.digest:
        print(f"sha256 of every draft (repr of each, in order): {drafts_digest(bill_run(jobs))}")
        return
    gc.collect()
    invoices = lines = 0
    due = Decimal(0)
    started = time.process_time()
    for draft in bill_run(jobs):
        invoices += 1
        lines += len(draft.lines)
        due += draft.amount_due
    elapsed = time.process_time() - started
    print(
        f"computed {invoices:,} invoices ({lines:,} lines) in {elapsed:.2f} s CPU: "
        f"{invoices / elapsed:,.0f} invoices/s, {lines / elapsed:,.0f} lines/s on one core"
    )
    print(f"amount due across the run (all currencies added, a checksum): {due}")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak resident memory of the process: {peak_kib / 1024:,.0f} MiB (inputs included)")
    floor = decimal_floor(list(bill_run(jobs)))
    print(
        f"floor, a bare Decimal loop over the same lines: {invoices / floor:,.0f} invoices/s; "
        f"ratio (engine time / floor time): {elapsed / floor:.1f}x (goal: within {GOAL_RATIO:g}x)"
    )

    if args.tracemalloc:
        tracemalloc.start()
        kept = list(bill_run(jobs))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"Python heap peak while computing and keeping all {len(kept):,} drafts: "
            f"{peak / 2**20:,.0f} MiB ({peak / len(kept):,.0f} bytes per invoice)"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
