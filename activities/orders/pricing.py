"""An order's prices against the price book: discount bands, price exceptions, order value.

Sales may price a line below the book down to its discount band
(``config/discount_bands.yaml``) without asking; deeper than that the line
is a price exception, and the order waits for an approval under
``price_exception`` in the approval matrix. The amount that decides who
approves is the money given away beyond the book over the order's term.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from activities.billing.money import round_money
from activities.billing.proration import (
    DEFAULT_POLICY,
    INTERVAL_MONTHS,
    Interval,
    proration,
    shift_months,
)
from activities.settings import config_dir

HUNDRED = Decimal(100)


class DiscountBandError(ValueError):
    """The discount band file is wrong; the message names the entry."""


@dataclass(frozen=True, slots=True)
class DiscountBands:
    """The deepest discount (per cent off the book) each item may get without approval."""

    default: Decimal
    items: Mapping[str, Decimal]

    def limit(self, item_code: str) -> Decimal:
        return self.items.get(item_code, self.default)


def _percent(value: Any, path: str) -> Decimal:
    if isinstance(value, float | bool) or not isinstance(value, str | int):
        raise DiscountBandError(
            f'discount_bands: {path}: write the percentage as a quoted string such as "10"'
        )
    try:
        percent = Decimal(value)
    except InvalidOperation:
        raise DiscountBandError(f"discount_bands: {path}: {value!r} is not a number") from None
    if not percent.is_finite() or not 0 <= percent <= HUNDRED:
        raise DiscountBandError(f"discount_bands: {path}: must be between 0 and 100")
    return percent


def parse_discount_bands(data: Any) -> DiscountBands:
    """Check the file's content (as read from YAML) and build the bands."""
    if not isinstance(data, dict) or "default" not in data:
        raise DiscountBandError("discount_bands: needs a `default` percentage")
    unknown = set(data) - {"default", "items"}
    if unknown:
        raise DiscountBandError(f"discount_bands: unknown key(s) {', '.join(sorted(unknown))}")
    items = data.get("items") or {}
    if not isinstance(items, dict):
        raise DiscountBandError("discount_bands: items: must map item codes to percentages")
    return DiscountBands(
        default=_percent(data["default"], "default"),
        items={str(code): _percent(value, f"items.{code}") for code, value in items.items()},
    )


def load_discount_bands(path: Path | None = None) -> DiscountBands:
    """The bands from ``discount_bands.yaml`` in ``CONFIG_DIR`` (or ``path``), read once per
    path: the path is resolved before the cache, so a changed ``CONFIG_DIR`` is read, as the
    price book and the tax table are."""
    return _load_discount_bands((path or config_dir() / "discount_bands.yaml").resolve())


@cache
def _load_discount_bands(source: Path) -> DiscountBands:
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise DiscountBandError(f"discount_bands: cannot read {source}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise DiscountBandError(f"discount_bands: {source} is not valid YAML: {error}") from None
    return parse_discount_bands(data)


class PriceException(BaseModel):
    """A line priced below its discount band: it needs an approval before provisioning."""

    model_config = ConfigDict(frozen=True)

    field: str
    item_code: str
    currency: str
    book_unit_price: Decimal
    unit_price: Decimal  # after the line's discount
    discount_percent: Decimal  # off the book, all discounts together
    band_percent: Decimal
    quantity: int
    amount: Decimal  # money below the book over the term: what the approval is for

    def describe(self) -> str:
        return (
            f"{self.item_code}: {self.unit_price} {self.currency} per seat is "
            f"{self.discount_percent}% below the book price {self.book_unit_price}, beyond the "
            f"{self.band_percent}% band; {self.amount} {self.currency} over the term"
        )


def effective_unit_price(
    book: Decimal, unit_price: Decimal | None, discount_percent: Decimal
) -> Decimal:
    """The per-seat price after the line's discount, unrounded (invoices round at the line)."""
    base = book if unit_price is None else unit_price
    return base * (HUNDRED - discount_percent) / HUNDRED


def discount_off_book(book: Decimal, effective: Decimal) -> Decimal:
    """How far below the book, in per cent to two places (negative when above the book)."""
    return ((book - effective) * HUNDRED / book).quantize(Decimal("0.01"))


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def periods_between(
    start: date, end: date, anchor: date, interval: Interval, interval_count: int = 1
) -> Decimal:
    """How many billing periods (of ``interval_count`` intervals) ``[start, end)`` spans on
    the anchor's schedule.

    Whole periods count 1; a piece before the anchor or after the last renewal
    counts its share by the product's proration policy (by the day). This is
    what an order is worth over its term, not an invoice: invoices come from
    the invoicing engine.
    """
    step = INTERVAL_MONTHS[interval] * interval_count
    begin, stop, origin = midnight(start), midnight(end), midnight(anchor)
    total = Decimal(0)
    k = 0
    while shift_months(origin, k * step) > begin:
        k -= 1
    while (period_start := shift_months(origin, k * step)) < stop:
        period_end = shift_months(origin, (k + 1) * step)
        piece_start, piece_end = max(begin, period_start), min(stop, period_end)
        if piece_end > piece_start:
            share = proration(
                piece_start,
                piece_end,
                period_start,
                period_end,
                DEFAULT_POLICY,
                interval,
                interval_count,
            )
            total += Decimal(share.numerator) / Decimal(share.denominator)
        k += 1
    return total


def line_value(unit_price: Decimal, quantity: int, periods: Decimal, currency: str) -> Decimal:
    """A line's money over ``periods`` billing periods, rounded once."""
    return round_money(unit_price * quantity * periods, currency)
