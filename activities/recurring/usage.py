"""Metered usage: taking events in once each, and summing them per add-on and period for billing.

Events are idempotent on (subscription, sender's event id): a file sent twice, or a
retried batch, adds nothing. The bill run asks :func:`usage_charges` for the units of
the period that ends (in arrears) and of any earlier period whose events arrived after
it was invoiced; the engine prices each period cumulatively, so late units are billed
as the difference from what the period's invoice already billed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any, cast

from sqlalchemy import case, func, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.pricebook import PriceBook, PriceBookError
from activities.billing.proration import period_containing
from activities.billing.usage import UsageCharge
from activities.ledger.bulk import copy_rows, copy_text
from activities.ledger.models import (
    ItemKind,
    Subscription,
    SubscriptionItem,
    UsageEvent,
    UsagePeriod,
)
from activities.recurring.history import INTERVALS, PeriodRow, SubscriptionRow, state_interval

FIELDS = ("subscription_id", "event_id", "metric", "quantity", "occurred_at")
BATCH = 10000
#: PostgreSQL: writer threads (and connections), each for its share of the subscriptions.
STREAMS = 2
#: Clocks of senders drift; an event more than this ahead of now is refused.
FUTURE_SLACK = timedelta(minutes=10)
_MAX_QUANTITY = Decimal("1e12")
_MICRO = Decimal("0.000001")


@dataclass(slots=True)
class IngestSummary:
    accepted: int = 0
    duplicate: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return self.accepted + self.duplicate + len(self.refused)


class UsageRefused(ValueError):
    """One usage line that cannot be taken; the message names the field and the rule."""


def read_records(stream: io.TextIOBase | Any, name: str) -> Iterator[tuple[int, Record]]:
    """(line number, record) from a CSV (with a header) or JSON Lines file, one at a time;
    a line that cannot be read at all comes back as its error text. A clean CSV line
    (:data:`_CLEAN_LINE`) comes back as its five fields, the others as a dict."""
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, f"not JSON ({error.msg})"
                continue
            yield number, record if isinstance(record, dict) else "not a JSON object"
        return
    lines = iter(stream)
    handed: list[str] = []

    def unmatched() -> Iterator[str]:
        """csv.reader's lines: the one the clean pattern did not take, then, while a
        quoted field runs on, the file's next ones."""
        while True:
            if handed:
                yield handed.pop()
            elif (line := next(lines, None)) is not None:
                yield line
            else:
                return

    reader = csv.reader(unmatched())
    header = next(reader, [])
    missing = [name for name in FIELDS if name not in header]
    if missing:
        raise UsageRefused(f"header: missing column(s) {', '.join(missing)}")
    clean = _CLEAN_LINE.fullmatch if tuple(header) == FIELDS else None
    number = reader.line_num
    for line in lines:
        if clean is not None and (match := clean(line)) is not None:
            number += 1
            yield number, cast(CleanLine, match.groups())
            continue
        # Anything else as before: csv.reader and a zip, not csv.DictReader (the same
        # records at a third of the cost); blank lines are skipped, as DictReader skips them.
        handed.append(line)
        read = reader.line_num
        row = next(reader, [])
        number += reader.line_num - read
        if row:
            yield number, dict(zip(header, row, strict=False))


#: A CSV line in the documented column order that csv.reader would read as these five
#: fields, ids that ``strip()`` leaves as they are (printable ASCII but space, quote and
#: comma, 1 to 100 characters), whole units of up to 12 digits (parse_event's ``int``),
#: and a time in the one ISO 8601 form that PostgreSQL reads as Python does (offsets up
#: to 14:59: Python takes up to 23:59, PostgreSQL refuses past 15:59). Such a line is
#: checked by :func:`check_event` without csv.reader and its dict, and travels to COPY as
#: its own text (bench/README.md).
_CLEAN_ID = r"[!#-+\--~]{1,100}"
_CLEAN_LINE = re.compile(
    rf"({_CLEAN_ID}),({_CLEAN_ID}),({_CLEAN_ID}),([0-9]{{1,12}}),"
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9]))(?:\r\n|\n|\r)?"
)
#: One clean CSV line's fields, in :data:`FIELDS` order.
CleanLine = tuple[str, str, str, str, str]
#: What :func:`read_records` yields for a line: a record, a clean CSV line, or why the
#: line cannot be read at all.
Record = dict[str, Any] | CleanLine | str


class _Known:
    """What the ingest checks events against, read once per subscription."""

    def __init__(self, session: Session, book: PriceBook) -> None:
        self.session = session
        self.book = book
        self.metrics: dict[str, tuple[frozenset[str], datetime] | None] = {}

    def prefetch(self, subscription_ids: Iterable[str]) -> None:
        """Read the subscriptions not known yet (start and usage add-ons) in one query."""
        missing = set(subscription_ids) - self.metrics.keys()
        if not missing:
            return
        rows = self.session.execute(
            select(Subscription.id, Subscription.term_start, SubscriptionItem.item_code)
            .outerjoin(
                SubscriptionItem,
                (SubscriptionItem.subscription_id == Subscription.id)
                & (SubscriptionItem.kind == ItemKind.USAGE_ADDON),
            )
            .where(Subscription.id.in_(missing))
        ).all()
        found: dict[str, tuple[set[str], datetime]] = {}
        for subscription_id, start, code in rows:
            codes, _ = found.setdefault(subscription_id, (set(), start))
            if code is not None:
                codes.add(code)
        for subscription_id in missing:
            held = found.get(subscription_id)
            self.metrics[subscription_id] = None if held is None else (frozenset(held[0]), held[1])

    def check(self, subscription_id: str, metric: str) -> datetime:
        if subscription_id not in self.metrics:
            self.prefetch([subscription_id])
        known = self.metrics[subscription_id]
        if known is None:
            raise UsageRefused(f"subscription_id: {subscription_id!r} not found")
        codes, start = known
        if metric not in codes:
            offered = ", ".join(sorted(codes)) or "none"
            raise UsageRefused(
                f"metric: {metric!r} is not a usage add-on of {subscription_id} (it has {offered})"
            )
        return start


#: An accepted event as it is copied into the ledger, in :data:`FIELDS` order.
EventRow = tuple[str, str, str, Decimal | int, datetime]


def parse_event(record: dict[str, Any], known: _Known, now: datetime) -> EventRow:
    """One record as a row to insert; raises :class:`UsageRefused` naming the bad field."""
    texts = []
    for name in ("subscription_id", "event_id", "metric"):
        value = record.get(name)
        if not isinstance(value, str) or not (value := value.strip()):
            raise UsageRefused(f"{name}: required text")
        if len(value) > 100:
            raise UsageRefused(f"{name}: longer than 100 characters")
        texts.append(value)
    subscription_id, event_id, metric = texts
    return check_event(
        subscription_id,
        event_id,
        metric,
        record.get("quantity"),
        record.get("occurred_at"),
        known,
        now,
    )


def check_event(
    subscription_id: str,
    event_id: str,
    metric: str,
    raw_quantity: object,
    raw_time: object,
    known: _Known,
    now: datetime,
) -> EventRow:
    """The rules past the ids' text (given stripped, 1 to 100 characters): quantity, time,
    subscription and metric; the one place they are written, for records and clean lines."""
    quantity: Decimal | int
    if (
        isinstance(raw_quantity, str)
        and len(raw_quantity) < 13
        and raw_quantity.isascii()
        and raw_quantity.isdigit()
    ):
        # Most senders count whole units: up to 12 ASCII digits is an int below 1e12,
        # without a Decimal, its range check and its quantize per line (bench/README.md).
        quantity = int(raw_quantity)
    else:
        quantity = _decimal_quantity(raw_quantity)
    try:
        # Python 3.11 reads every ISO 8601 form, "Z" included.
        occurred = datetime.fromisoformat(raw_time if isinstance(raw_time, str) else str(raw_time))
    except ValueError:
        raise UsageRefused(f"occurred_at: {raw_time!r} is not an ISO 8601 time") from None
    if occurred.tzinfo is None:
        raise UsageRefused("occurred_at: needs a timezone, such as 2026-11-02T10:00:00Z")
    occurred = occurred.astimezone(UTC)
    if occurred > now + FUTURE_SLACK:
        raise UsageRefused(f"occurred_at: {occurred.isoformat()} is in the future")
    if occurred < known.check(subscription_id, metric):
        raise UsageRefused(f"occurred_at: {occurred.isoformat()} is before the subscription began")
    return subscription_id, event_id, metric, quantity, occurred


def _decimal_quantity(raw_quantity: object) -> Decimal:
    """A quantity that is not plain digits: a decimal of at most 6 places from 0 to 1e12."""
    if isinstance(raw_quantity, float):
        raise UsageRefused("quantity: give a decimal string or integer, not a JSON float")
    try:
        quantity = Decimal(raw_quantity if isinstance(raw_quantity, str) else str(raw_quantity))
    except InvalidOperation:
        raise UsageRefused(f"quantity: {raw_quantity!r} is not a number") from None
    if not quantity.is_finite() or quantity < 0 or quantity > _MAX_QUANTITY:
        raise UsageRefused(f"quantity: {raw_quantity!r} must be a finite number from 0 to 1e12")
    if quantity != quantity.quantize(_MICRO):
        raise UsageRefused(f"quantity: {raw_quantity!r} has more than 6 decimal places")
    return quantity


#: What a refused resend is compared with: the held event's metric, quantity and time.
Held = tuple[str, Decimal, datetime]
#: An event of the batch whose id is held with other content: (subscription, event id), held.
Conflict = tuple[tuple[str, str], Held]


#: An event to insert, with its CSV text when it came as a clean line (:data:`CleanLine`).
Pending = tuple[EventRow, str | None]


def _insert(session: Session, pending: list[Pending], now: datetime) -> tuple[int, list[Conflict]]:
    """Insert, skipping events already held; returns how many were new, and the events
    whose (subscription, event id) is held with another metric, quantity or time."""
    if session.get_bind().dialect.name == "postgresql":
        return _copy(session, pending, now)
    rows = [row for row, _ in pending]
    statement = sqlite.insert(UsageEvent).on_conflict_do_nothing(
        index_elements=["subscription_id", "event_id"]
    )
    values = [{**dict(zip(FIELDS, row, strict=True)), "received_at": now} for row in rows]
    added = {
        (subscription_id, event_id)
        for subscription_id, event_id in session.execute(
            statement.returning(UsageEvent.subscription_id, UsageEvent.event_id), values
        ).all()
    }
    conflicts: list[Conflict] = []
    for row in rows:
        if (row[0], row[1]) in added:
            continue
        held = session.execute(
            select(UsageEvent.metric, UsageEvent.quantity, UsageEvent.occurred_at).where(
                UsageEvent.subscription_id == row[0], UsageEvent.event_id == row[1]
            )
        ).one()
        if (held[0], held[1], held[2]) != row[2:]:
            conflicts.append(((row[0], row[1]), (held[0], held[1], held[2])))
    return len(added), conflicts


#: PostgreSQL: each batch is copied here, then moved into usage_events skipping the
#: events already held. One table per connection, emptied at each commit: a table
#: created and dropped per batch cost a catalog write and a file per batch.
_STAGING = """CREATE TEMPORARY TABLE IF NOT EXISTS usage_events_incoming (
    subscription_id VARCHAR(32), event_id VARCHAR(100), metric VARCHAR(64),
    quantity NUMERIC(19, 6), occurred_at TIMESTAMPTZ
) ON COMMIT DELETE ROWS"""
#: Two ingests naming the same subscription take turns: a transaction-scoped advisory
#: lock per subscription of the batch (in one order, so two batches never wait for each
#: other in a cycle). A hash collision only makes two subscriptions queue together.
_TURN = """SELECT pg_advisory_xact_lock(:namespace, turn)
FROM (SELECT DISTINCT hashtext(subscription_id) AS turn FROM usage_events_incoming
      ORDER BY turn) AS turns"""
_TURN_NAMESPACE = 0x55534745  # "USGE"
#: Under the turn, each event of the batch is looked up once by the unique key (a left
#: join, not ``ON CONFLICT DO NOTHING``, whose speculative insertion costs every row
#: extra index and WAL work: bench/README.md); the ones not held are inserted, in key
#: order as the indexes hold them, and the held ones whose content differs come back
#: to be refused. The unique key stays as the last guard.
_MOVE = """WITH probe AS MATERIALIZED (
    SELECT incoming.*, held.metric AS held_metric, held.quantity AS held_quantity,
           held.occurred_at AS held_at
    FROM usage_events_incoming AS incoming
    LEFT JOIN usage_events AS held
      ON held.subscription_id = incoming.subscription_id
     AND held.event_id = incoming.event_id
), moved AS (
    INSERT INTO usage_events
        (subscription_id, event_id, metric, quantity, occurred_at, received_at)
    SELECT subscription_id, event_id, metric, quantity, occurred_at, :received_at
    FROM probe WHERE held_metric IS NULL
    ORDER BY subscription_id, event_id
)
SELECT count(*) AS added, NULL, NULL, NULL, NULL, NULL FROM probe WHERE held_metric IS NULL
UNION ALL
SELECT NULL, subscription_id, event_id, held_metric, held_quantity, held_at FROM probe
WHERE (held_metric, held_quantity, held_at) <> (metric, quantity, occurred_at)"""


def _copy(session: Session, pending: list[Pending], now: datetime) -> tuple[int, list[Conflict]]:
    """COPY the batch into the staging table, take the turn of its subscriptions, then
    one statement that inserts the events not held yet and returns the conflicting
    ones: rows travel as data instead of statement parameters (bench/README.md). Clean
    CSV lines go as the text they came in (PostgreSQL reads their quantity and time as
    :func:`check_event` did); the other rows are encoded by psycopg."""
    session.execute(text(_STAGING))
    columns = ", ".join(FIELDS)
    lines = [line for _, line in pending if line is not None]
    if lines:
        copy_text(
            session,
            f"COPY usage_events_incoming ({columns}) FROM STDIN (FORMAT csv)",
            "\n".join(lines),
        )
    if len(lines) < len(pending):
        rows = (row for row, line in pending if line is None)
        copy_rows(session, f"COPY usage_events_incoming ({columns}) FROM STDIN", rows)
    session.execute(text(_TURN), {"namespace": _TURN_NAMESPACE})
    added = 0
    conflicts: list[Conflict] = []
    for count, subscription_id, event_id, metric, quantity, at in session.execute(
        text(_MOVE), {"received_at": now}
    ):
        if count is not None:
            added = count
        else:
            conflicts.append(((subscription_id, event_id), (metric, quantity, at)))
    return added, conflicts


def _conflict_reason(key: tuple[str, str], held: Held) -> str:
    metric, quantity, at = held
    return (
        f"event_id: {key[1]!r} of {key[0]} was already received with other content "
        f"(metric {metric}, quantity {_units(quantity)}, occurred_at {at.isoformat()}); "
        "a corrected event needs a new event id"
    )


def ingest(
    sessions: sessionmaker[Session],
    records: Iterable[tuple[int, Record]],
    *,
    book: PriceBook,
    now: datetime,
    progress: Any = None,
) -> IngestSummary:
    """Take the records in, in batches of one transaction each; never holds the file.

    An event whose (subscription, event id) is already held, in the ledger or earlier in
    the file, is a duplicate when its metric, quantity and time are the same, and is
    refused when any differs: a sender cannot change a recorded event by sending it
    again (a correction is a new event).

    On PostgreSQL the subscriptions are split in :data:`STREAMS` streams (by a hash of
    the id), each with its own batch and its own writer thread and connection: a
    stream's batch is written while the next ones are checked, and two streams are
    written at once, so the database's work, most of the ingest's (bench/README.md), uses
    both cores. Streams never share a subscription, so they never wait for each other's
    turn (an advisory-lock hash collision aside); at most two batches per stream are in
    memory. On SQLite the writes stay on the reader's connection: a second one would
    wait for the write lock the reader holds (every transaction there begins IMMEDIATE).
    A crash leaves the batches committed so far; sending the file again adds only the
    rest.
    """
    summary = IngestSummary()
    with sessions() as reader, ThreadPoolExecutor(max_workers=STREAMS) as writer:
        known = _Known(reader, book)
        concurrent = reader.get_bind().dialect.name == "postgresql"
        streams = STREAMS if concurrent else 1
        #: Per stream, the batch: (subscription, event id) -> (line number, row), and the
        #: later lines of the batch that repeat one of its events as it is: duplicates,
        #: unless the ledger holds that event with other content (then refused with it).
        batches: list[_Batch] = [({}, {}) for _ in range(streams)]
        pending: list[Future[_Written] | None] = [None] * streams

        def write(batch: _Batch) -> _Written:
            firsts, repeats = batch
            rows = [(row, line) for _, row, line in firsts.values()]
            if not concurrent:
                added, conflicts = _insert(reader, rows, now)
                reader.commit()
            else:
                with sessions.begin() as session:
                    added, conflicts = _insert(session, rows, now)
            refused = []
            for key, held in conflicts:
                reason = _conflict_reason(key, held)
                for number in (firsts[key][0], *repeats.pop(key, ())):
                    refused.append((number, reason))
            duplicate = len(rows) - added - len(conflicts) + sum(map(len, repeats.values()))
            return added, duplicate, refused, len(rows)

        def account(written: _Written) -> None:
            added, duplicate, refused, sent = written
            summary.accepted += added
            summary.duplicate += duplicate
            summary.refused.extend(refused)
            if progress is not None:
                progress(sent)

        def flush(stream: int) -> None:
            batch = batches[stream]
            if not batch[0]:
                return
            batches[stream] = ({}, {})
            held = pending[stream]
            if held is not None:
                pending[stream] = None
                account(held.result())
            if concurrent:
                pending[stream] = writer.submit(write, batch)
            else:
                account(write(batch))

        for number, record in _prefetched(records, known):
            if isinstance(record, str):
                summary.refused.append((number, record))
                continue
            try:
                if isinstance(record, tuple):
                    row = check_event(*record, known, now)
                    line: str | None = ",".join(record)
                else:
                    row = parse_event(record, known, now)
                    line = None
            except UsageRefused as error:
                summary.refused.append((number, str(error)))
                continue
            key = (row[0], row[1])
            stream = hash(row[0]) % streams
            firsts, repeats = batches[stream]
            earlier = firsts.get(key)
            if earlier is not None:
                if earlier[1][2:] == row[2:]:
                    repeats.setdefault(key, []).append(number)
                else:
                    held = cast(Held, earlier[1][2:])
                    summary.refused.append((number, _conflict_reason(key, held)))
                continue
            firsts[key] = (number, row, line)
            if len(firsts) >= BATCH:
                flush(stream)
        for stream in range(streams):
            flush(stream)
        for waiting in pending:
            if waiting is not None:
                account(waiting.result())
    summary.refused.sort()
    return summary


#: A batch: its events by key with their line number and clean CSV text (if it came as
#: one), and the line numbers repeating them as they are.
_Batch = tuple[
    dict[tuple[str, str], tuple[int, EventRow, str | None]], dict[tuple[str, str], list[int]]
]
#: A written batch: accepted, duplicates, refused (line, reason), lines sent.
_Written = tuple[int, int, list[tuple[int, str]], int]


def _prefetched(
    records: Iterable[tuple[int, Record]], known: _Known
) -> Iterator[tuple[int, Record]]:
    """The records, read :data:`BATCH` at a time so that the subscriptions they name are
    looked up with one query per chunk instead of one per subscription."""
    stream = iter(records)
    while chunk := list(islice(stream, BATCH)):
        known.prefetch(name for _, record in chunk if (name := _subscription_of(record)))
        yield from chunk


def _subscription_of(record: Record) -> str | None:
    """The subscription a record names, as :func:`parse_event` reads it."""
    if isinstance(record, tuple):
        return record[0]
    if isinstance(record, dict) and isinstance(value := record.get("subscription_id"), str):
        return value.strip()
    return None


@dataclass(frozen=True, slots=True)
class UsageWindow:
    """The usage events one invoice bills: the subscription's events up to ``last_id``."""

    charges: tuple[UsageCharge, ...]
    last_id: int


#: A window of usage to price: its start, its end, and the plan whose included units and
#: tiers apply (``None``: the plan of the billing period being invoiced).
Window = tuple[datetime, datetime, str | None]


def usage_charges(
    session: Session,
    subscription: SubscriptionRow,
    period: PeriodRow,
    plan: str,
    book: PriceBook,
    periods: Sequence[tuple[datetime, datetime]] | None = None,
    *,
    late: bool = True,
) -> UsageWindow:
    """The units of every usage period up to the end of the current one with events not
    invoiced yet: the current period's, and any earlier one's late arrivals.

    ``periods`` are the usage periods of the current billing period when a change of
    interval cut it (history.usage_periods): each is priced on its own, so usage before
    the change is billed as the old period's. With ``late`` false only those are read
    (the invoice issued at a change of interval bills the periods it closes). Late
    arrivals are priced in the period they occurred in, as it was (:func:`_late_windows`)."""
    last_id = session.scalar(
        select(func.max(UsageEvent.id)).where(UsageEvent.subscription_id == subscription.id)
    )
    if last_id is None:
        return UsageWindow((), 0)
    start, end = period.period_start, period.period_end
    windows = _late_windows(session, subscription, period, last_id) if late else []
    windows.extend((s, e, None) for s, e in (periods or [(start, end)]))
    charges: list[UsageCharge] = []
    for window_start, window_end, window_plan in windows:
        invoiced = case((UsageEvent.invoice_id.is_not(None), UsageEvent.quantity), else_=0)
        rows = session.execute(
            select(
                UsageEvent.metric,
                func.sum(UsageEvent.quantity),
                func.sum(invoiced),
            )
            .where(
                UsageEvent.subscription_id == subscription.id,
                UsageEvent.occurred_at >= window_start,
                UsageEvent.occurred_at < window_end,
                UsageEvent.id <= last_id,
            )
            .group_by(UsageEvent.metric)
            .order_by(UsageEvent.metric)
        ).all()
        for metric, total, already in rows:
            total, already = _units(total), _units(already)
            if total == already:
                continue
            try:
                addon = book.usage_addon(metric)
                price = book.usage_price(metric, subscription.currency, window_plan or plan)
            except PriceBookError as error:
                raise ValueError(f"usage {metric}: {error}") from None
            charges.append(
                UsageCharge(
                    metric, addon.name, addon.unit, window_start, window_end, total, price, already
                )
            )
    return UsageWindow(tuple(charges), last_id)


def _late_windows(
    session: Session, subscription: SubscriptionRow, period: PeriodRow, last_id: int
) -> list[Window]:
    """The earlier periods holding events not invoiced yet, in time order.

    A period the bill run closed is the one it recorded (:class:`UsagePeriod`: its start,
    end and plan), so late usage is priced as that period was even after a change of
    interval moved the anchor and cut it; periods closed before the ledger kept them are
    recorded from its history by migration 0024. A period not recorded (never closed by a
    bill run, or a piece of a period cut by a change that no usage line showed) is
    counted from the anchor and interval the current billing period began with, within
    the recorded ones around it."""
    start = period.period_start
    opening = period.opening or {}
    anchor = (
        datetime.fromisoformat(opening["anchor"])
        if "anchor" in opening
        else subscription.billing_anchor
    )
    interval, count = (
        state_interval(opening)
        if "interval" in opening
        else (INTERVALS[subscription.interval.value], subscription.interval_count)
    )
    windows: list[Window] = []
    late_from = _first_unbilled(session, subscription.id, None, start, last_id)
    while late_from is not None:
        before = session.execute(
            select(UsagePeriod.period_start, UsagePeriod.period_end, UsagePeriod.plan)
            .where(
                UsagePeriod.subscription_id == subscription.id,
                UsagePeriod.period_start <= late_from,
            )
            .order_by(UsagePeriod.period_start.desc())
            .limit(1)
        ).first()
        window: Window
        if before is not None and late_from < before.period_end:
            window = (before.period_start, min(before.period_end, start), before.plan)
        else:
            after = session.scalar(
                select(func.min(UsagePeriod.period_start)).where(
                    UsagePeriod.subscription_id == subscription.id,
                    UsagePeriod.period_start > late_from,
                )
            )
            counted = period_containing(anchor, interval, late_from, count)
            floor = subscription.term_start if before is None else before.period_end
            ceiling = start if after is None else min(after, start)
            window = (max(counted[0], floor), min(counted[1], ceiling), None)
        windows.append(window)
        late_from = _first_unbilled(session, subscription.id, window[1], start, last_id)
    return windows


def _first_unbilled(
    session: Session, subscription_id: str, since: datetime | None, until: datetime, last_id: int
) -> datetime | None:
    """When the first event before ``until`` (from ``since``) not invoiced yet occurred."""
    return session.scalar(
        select(func.min(UsageEvent.occurred_at)).where(
            UsageEvent.subscription_id == subscription_id,
            UsageEvent.invoice_id.is_(None),
            *([UsageEvent.occurred_at >= since] if since is not None else []),
            UsageEvent.occurred_at < until,
            UsageEvent.id <= last_id,
        )
    )


def has_usage_addon(subscription: SubscriptionRow) -> bool:
    return any(item.kind == ItemKind.USAGE_ADDON for item in subscription.items)


def closed_periods(
    subscription: SubscriptionRow, periods: Sequence[tuple[datetime, datetime]], plan: str
) -> list[dict[str, object]]:
    """The :class:`UsagePeriod` rows of the usage periods a renewal invoices, priced with
    ``plan``: inserted with the renewal so late usage of them is priced as they were.
    None for a subscription without usage add-ons (nothing of it is metered)."""
    if not has_usage_addon(subscription):
        return []
    return [
        {"subscription_id": subscription.id, "period_start": s, "period_end": e, "plan": plan}
        for s, e in periods
    ]


def _units(value: object) -> Decimal:
    """A sum as the database returns it (``1260000.000000``) without its trailing zeros."""
    units = Decimal(str(value or 0))
    return units.quantize(Decimal(1)) if units == units.to_integral_value() else units.normalize()


def mark_invoiced(
    session: Session,
    subscription_id: str,
    until: datetime,
    last_id: int,
    invoice_id: int,
    since: datetime | None = None,
) -> None:
    """The events the invoice billed now point at it (later arrivals stay unbilled). With
    ``since`` (an invoice that billed only the periods from there), earlier events are
    left for the invoice that bills them."""
    session.execute(
        update(UsageEvent)
        .where(
            UsageEvent.subscription_id == subscription_id,
            UsageEvent.invoice_id.is_(None),
            UsageEvent.occurred_at < until,
            *([UsageEvent.occurred_at >= since] if since is not None else []),
            UsageEvent.id <= last_id,
        )
        .values(invoice_id=invoice_id)
        .execution_options(synchronize_session=False)
    )
