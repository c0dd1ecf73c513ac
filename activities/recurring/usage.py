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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any, cast

from sqlalchemy import case, func, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from activities.billing.pricebook import PriceBook, PriceBookError
from activities.billing.proration import period_containing
from activities.billing.usage import UsageCharge
from activities.ledger.bulk import copy_rows
from activities.ledger.models import (
    ItemKind,
    Subscription,
    SubscriptionItem,
    UsageEvent,
)
from activities.recurring.history import INTERVALS, PeriodRow, SubscriptionRow

FIELDS = ("subscription_id", "event_id", "metric", "quantity", "occurred_at")
BATCH = 5000
#: Clocks of senders drift; an event more than this ahead of now is refused.
FUTURE_SLACK = timedelta(minutes=10)
_MAX_QUANTITY = Decimal("1e12")


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


def read_records(
    stream: io.TextIOBase | Any, name: str
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) from a CSV (with a header) or JSON Lines file, one at a time;
    a line that cannot be read at all comes back as its error text."""
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
    reader = csv.DictReader(stream)
    missing = [name for name in FIELDS if name not in (reader.fieldnames or ())]
    if missing:
        raise UsageRefused(f"header: missing column(s) {', '.join(missing)}")
    for record in reader:
        yield reader.line_num, record


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


def parse_event(record: dict[str, Any], known: _Known, now: datetime) -> dict[str, Any]:
    """One record as a row to insert; raises :class:`UsageRefused` naming the bad field."""
    values = {name: record.get(name) for name in FIELDS}
    for name in ("subscription_id", "event_id", "metric"):
        value = values[name]
        if not isinstance(value, str) or not value.strip():
            raise UsageRefused(f"{name}: required text")
        if len(value) > 100:
            raise UsageRefused(f"{name}: longer than 100 characters")
    raw_quantity = values["quantity"]
    if isinstance(raw_quantity, float):
        raise UsageRefused("quantity: give a decimal string or integer, not a JSON float")
    try:
        quantity = Decimal(str(raw_quantity))
    except InvalidOperation:
        raise UsageRefused(f"quantity: {raw_quantity!r} is not a number") from None
    if not quantity.is_finite() or quantity < 0 or quantity > _MAX_QUANTITY:
        raise UsageRefused(f"quantity: {raw_quantity!r} must be a finite number from 0 to 1e12")
    if quantity != quantity.quantize(Decimal("0.000001")):
        raise UsageRefused(f"quantity: {raw_quantity!r} has more than 6 decimal places")
    try:
        occurred = datetime.fromisoformat(str(values["occurred_at"]).replace("Z", "+00:00"))
    except ValueError:
        raise UsageRefused(
            f"occurred_at: {values['occurred_at']!r} is not an ISO 8601 time"
        ) from None
    if occurred.tzinfo is None:
        raise UsageRefused("occurred_at: needs a timezone, such as 2026-11-02T10:00:00Z")
    occurred = occurred.astimezone(UTC)
    if occurred > now + FUTURE_SLACK:
        raise UsageRefused(f"occurred_at: {occurred.isoformat()} is in the future")
    subscription_id = str(values["subscription_id"]).strip()
    metric = str(values["metric"]).strip()
    start = known.check(subscription_id, metric)
    if occurred < start:
        raise UsageRefused(f"occurred_at: {occurred.isoformat()} is before the subscription began")
    return {
        "subscription_id": subscription_id,
        "event_id": str(values["event_id"]).strip(),
        "metric": metric,
        "quantity": quantity,
        "occurred_at": occurred,
        "received_at": now,
    }


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert, skipping events already held; returns how many were new."""
    if session.get_bind().dialect.name == "postgresql":
        return _copy(session, rows)
    statement = sqlite.insert(UsageEvent).on_conflict_do_nothing(
        index_elements=["subscription_id", "event_id"]
    )
    return len(session.execute(statement.returning(UsageEvent.id), rows).all())


#: PostgreSQL: each batch is copied here, then moved into usage_events skipping the
#: events already held (a temporary table of the batch's transaction: :func:`ingest`
#: commits each batch, which drops it).
_STAGING = """CREATE TEMPORARY TABLE usage_events_incoming (
    subscription_id VARCHAR(32), event_id VARCHAR(100), metric VARCHAR(64),
    quantity NUMERIC(19, 6), occurred_at TIMESTAMPTZ, received_at TIMESTAMPTZ
) ON COMMIT DROP"""
_MOVE = """INSERT INTO usage_events
    (subscription_id, event_id, metric, quantity, occurred_at, received_at)
SELECT subscription_id, event_id, metric, quantity, occurred_at, received_at
FROM usage_events_incoming
ON CONFLICT (subscription_id, event_id) DO NOTHING"""


def _copy(session: Session, rows: list[dict[str, Any]]) -> int:
    """COPY the batch into the staging table, then one INSERT ... ON CONFLICT DO NOTHING:
    rows travel as data instead of statement parameters (bench/usage_ingest.py)."""
    session.execute(text(_STAGING))
    copy_rows(
        session,
        f"COPY usage_events_incoming ({', '.join(FIELDS)}, received_at) FROM STDIN",
        (
            (
                row["subscription_id"],
                row["event_id"],
                row["metric"],
                row["quantity"],
                row["occurred_at"],
                row["received_at"],
            )
            for row in rows
        ),
    )
    moved = cast(CursorResult[Any], session.execute(text(_MOVE)))
    return moved.rowcount


def ingest(
    sessions: sessionmaker[Session],
    records: Iterable[tuple[int, dict[str, Any] | str]],
    *,
    book: PriceBook,
    now: datetime,
    progress: Any = None,
) -> IngestSummary:
    """Take the records in, in batches of one transaction each; never holds the file."""
    summary = IngestSummary()
    with sessions() as reader:
        known = _Known(reader, book)
        batch: dict[tuple[str, str], dict[str, Any]] = {}

        def flush() -> None:
            if not batch:
                return
            # On the reader's own connection: a second session would wait for the write lock
            # the reader holds on SQLite (every transaction there begins IMMEDIATE).
            added = _insert(reader, list(batch.values()))
            reader.commit()
            summary.accepted += added
            summary.duplicate += len(batch) - added
            if progress is not None:
                progress(len(batch))
            batch.clear()

        for number, record in _prefetched(records, known):
            if isinstance(record, str):
                summary.refused.append((number, record))
                continue
            try:
                row = parse_event(record, known, now)
            except UsageRefused as error:
                summary.refused.append((number, str(error)))
                continue
            key = (row["subscription_id"], row["event_id"])
            if key in batch:
                summary.duplicate += 1
                continue
            batch[key] = row
            if len(batch) >= BATCH:
                flush()
        flush()
    return summary


def _prefetched(
    records: Iterable[tuple[int, dict[str, Any] | str]], known: _Known
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """The records, read :data:`BATCH` at a time so that the subscriptions they name are
    looked up with one query per chunk instead of one per subscription."""
    stream = iter(records)
    while chunk := list(islice(stream, BATCH)):
        known.prefetch(
            value.strip()
            for _, record in chunk
            if isinstance(record, dict) and isinstance(value := record.get("subscription_id"), str)
        )
        yield from chunk


@dataclass(frozen=True, slots=True)
class UsageWindow:
    """The usage events one invoice bills: the subscription's events up to ``last_id``."""

    charges: tuple[UsageCharge, ...]
    last_id: int


def usage_charges(
    session: Session,
    subscription: SubscriptionRow,
    period: PeriodRow,
    plan: str,
    book: PriceBook,
) -> UsageWindow:
    """The units of every usage period up to the end of the current one with events not
    invoiced yet: the current period's, and any earlier one's late arrivals."""
    last_id = session.scalar(
        select(func.max(UsageEvent.id)).where(UsageEvent.subscription_id == subscription.id)
    )
    if last_id is None:
        return UsageWindow((), 0)
    interval = INTERVALS[subscription.interval.value]
    charges: list[UsageCharge] = []
    start, end = period.period_start, period.period_end
    late_from = session.scalar(
        select(func.min(UsageEvent.occurred_at)).where(
            UsageEvent.subscription_id == subscription.id,
            UsageEvent.invoice_id.is_(None),
            UsageEvent.occurred_at < start,
            UsageEvent.id <= last_id,
        )
    )
    windows: list[tuple[datetime, datetime]] = []
    while late_from is not None:
        window = period_containing(subscription.billing_anchor, interval, late_from)
        windows.append((max(window[0], subscription.term_start), min(window[1], start)))
        late_from = session.scalar(
            select(func.min(UsageEvent.occurred_at)).where(
                UsageEvent.subscription_id == subscription.id,
                UsageEvent.invoice_id.is_(None),
                UsageEvent.occurred_at >= window[1],
                UsageEvent.occurred_at < start,
                UsageEvent.id <= last_id,
            )
        )
    windows.append((start, end))
    for window_start, window_end in windows:
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
                price = book.usage_price(metric, subscription.currency, plan)
            except PriceBookError as error:
                raise ValueError(f"usage {metric}: {error}") from None
            charges.append(
                UsageCharge(
                    metric, addon.name, addon.unit, window_start, window_end, total, price, already
                )
            )
    return UsageWindow(tuple(charges), last_id)


def _units(value: object) -> Decimal:
    """A sum as the database returns it (``1260000.000000``) without its trailing zeros."""
    units = Decimal(str(value or 0))
    return units.quantize(Decimal(1)) if units == units.to_integral_value() else units.normalize()


def mark_invoiced(
    session: Session, subscription_id: str, until: datetime, last_id: int, invoice_id: int
) -> None:
    """The events the invoice billed now point at it (later arrivals stay unbilled)."""
    session.execute(
        update(UsageEvent)
        .where(
            UsageEvent.subscription_id == subscription_id,
            UsageEvent.invoice_id.is_(None),
            UsageEvent.occurred_at < until,
            UsageEvent.id <= last_id,
        )
        .values(invoice_id=invoice_id)
        .execution_options(synchronize_session=False)
    )
