"""Usage add-ons: metered units billed in arrears for a usage period.

A usage period can be invoiced more than once (a mid-period invoice at a
cancellation or plan change, then the rest at the period end). Pricing is
therefore always *cumulative*: the charge for the units so far, less what the
units already invoiced for the same period cost. For graduated tiers that is
exactly the units between the two counts at each tier's price; for volume
tiers, where one price applies to all units, the earlier charge is credited
back in full when the total reaches a new tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from activities.billing.money import ZERO, round_money

UsageModel = Literal["per_unit", "block", "graduated", "volume"]


class UsageError(ValueError):
    """Usage that cannot be priced (fewer units than already invoiced, a bad price)."""


@dataclass(frozen=True, slots=True)
class Tier:
    """Billable units up to ``up_to`` (inclusive; ``None`` for no limit) at ``unit_amount``.

    ``flat_amount`` is charged once when usage reaches the tier. With
    ``block_size``, ``unit_amount`` is the price of each started block of that
    many units in the tier (Zuora's and Chargebee's package-per-tier pricing).
    """

    up_to: Decimal | None
    unit_amount: Decimal
    flat_amount: Decimal = ZERO
    block_size: Decimal | None = None

    def quantity(self, units: Decimal) -> Decimal:
        """What ``units`` of the tier are billed as: units, or started blocks."""
        if self.block_size is None or units <= ZERO:
            return units
        return _blocks(units, self.block_size)

    def priced(self) -> str:
        if self.block_size is None:
            return f"{self.unit_amount:f}"
        return f"{self.unit_amount:f} per started block of {_units(self.block_size)}"


@dataclass(frozen=True, slots=True)
class UsagePrice:
    """How a usage add-on is priced in one currency, ``included`` units being free.

    ``unit_amount`` is the per-unit price (``per_unit``) or the price of one
    started block of ``block_size`` units (``block``); ``tiers`` serve the
    ``graduated`` and ``volume`` models.
    """

    model: UsageModel
    included: Decimal = ZERO
    unit_amount: Decimal = ZERO
    block_size: Decimal = Decimal(1)
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True, slots=True)
class UsageCharge:
    """Units of one usage add-on in ``[period_start, period_end)``.

    ``units`` is the total for the period so far; ``invoiced_units`` the part
    of it already invoiced.
    """

    code: str
    name: str
    unit: str
    period_start: datetime
    period_end: datetime
    units: Decimal
    price: UsagePrice
    invoiced_units: Decimal = ZERO


@dataclass(slots=True)
class UsageLine:
    """One priced piece of usage: ``amount`` is ``quantity * unit_amount`` rounded once to
    the currency, negative for a credit of what was already invoiced.

    Not frozen: one is built per usage line of every invoice, and a frozen dataclass costs
    several times as much to build (bench/bill_run.py)."""

    description: str
    quantity: Decimal
    unit_amount: Decimal
    amount: Decimal


def _units(value: Decimal) -> str:
    return f"{value:,f}"


def _billable(units: Decimal, included: Decimal) -> Decimal:
    return units - included if units > included else ZERO


def _blocks(billable: Decimal, size: Decimal) -> Decimal:
    # Decimal's // truncates towards zero, so a started block needs an explicit ceiling.
    return (billable / size).to_integral_value(rounding=ROUND_CEILING)


def _volume_tier(tiers: Sequence[Tier], billable: Decimal) -> Tier:
    for tier in tiers:
        if tier.up_to is None or billable <= tier.up_to:
            return tier
    raise UsageError("usage: the last tier must have no upper limit")


def _line(description: str, quantity: Decimal, unit_amount: Decimal, currency: str) -> UsageLine:
    return UsageLine(
        description, quantity, unit_amount, round_money(quantity * unit_amount, currency)
    )


#: Per tier of a graduated table: `` in tier 2 (1,001–10,000) at 0.002``, ``tier 2
#: (1,001–10,000) flat fee``. Keyed by the tiers tuple's identity and holding the tuple,
#: so a key cannot be reused by another table while its entry lives: the price book
#: shares one tuple between every price of a usage add-on, and formatting the bounds
#: with thousands separators cost more than the rest of a usage line.
_TIER_TEXTS: dict[int, tuple[tuple[Tier, ...], tuple[tuple[str, str], ...]]] = {}
_TIER_TEXTS_KEPT = 256


def _tier_texts(tiers: tuple[Tier, ...]) -> tuple[tuple[str, str], ...]:
    """Each tier's text after its units, and its flat fee's text (see ``_TIER_TEXTS``)."""
    entry = _TIER_TEXTS.get(id(tiers))
    if entry is not None and entry[0] is tiers:
        return entry[1]
    texts = []
    lower = ZERO
    for number, tier in enumerate(tiers, start=1):
        upper = tier.up_to
        span = f"{_units(lower + 1)}+" if upper is None else f"{_units(lower + 1)}–{_units(upper)}"
        texts.append((f" in tier {number} ({span}) at {tier.priced()}", f"tier {number} ({span})"))
        if upper is None:
            break
        lower = upper
    if len(_TIER_TEXTS) >= _TIER_TEXTS_KEPT:
        _TIER_TEXTS.clear()
    _TIER_TEXTS[id(tiers)] = (tiers, tuple(texts))
    return tuple(texts)


def price_usage(charge: UsageCharge, currency: str) -> list[UsageLine]:
    """The lines for the units of ``charge`` not invoiced yet (none when nothing is owed)."""
    units, before, price = charge.units, charge.invoiced_units, charge.price
    if units < ZERO or before < ZERO:
        raise UsageError(f"usage {charge.code}: units cannot be negative")
    if units < before:
        raise UsageError(
            f"usage {charge.code}: units {_units(units)} are fewer than the "
            f"{_units(before)} already invoiced for this period"
        )
    name, unit = charge.name, charge.unit
    now_billable = _billable(units, price.included)
    before_billable = _billable(before, price.included)
    included = f", {_units(price.included)} included" if price.included else ""
    model = price.model
    if model == "per_unit":
        quantity = now_billable - before_billable
        if not quantity:
            return []
        text = f"{name}: {_units(quantity)} {unit}s at {price.unit_amount:f}{included}"
        return [_line(text, quantity, price.unit_amount, currency)]
    if model == "block":
        size = price.block_size
        blocks = _blocks(now_billable, size) - _blocks(before_billable, size)
        if not blocks:
            return []
        text = (
            f"{name}: {_units(blocks)} started blocks of {_units(size)} {unit} "
            f"({_units(units)} {unit} used{included})"
        )
        return [_line(text, blocks, price.unit_amount, currency)]
    if model == "graduated":
        return _graduated(charge, before_billable, now_billable, included, currency)
    return _volume(charge, before_billable, now_billable, included, currency)


def _graduated(
    charge: UsageCharge, before: Decimal, now: Decimal, included: str, currency: str
) -> list[UsageLine]:
    lines: list[UsageLine] = []
    lower = ZERO
    name, unit = charge.name, charge.unit
    tiers = charge.price.tiers
    texts = _tier_texts(tiers)
    for number, tier in enumerate(tiers):
        upper = tier.up_to
        # This tier's units in (lower, upper] that lie between the two counts.
        top = now if upper is None or now < upper else upper
        bottom = before if before > lower else lower
        if top <= bottom:
            quantity = ZERO
        elif tier.block_size is None:
            quantity = (top - lower) - (bottom - lower)  # Tier.quantity, without two calls
        else:
            quantity = tier.quantity(top - lower) - tier.quantity(bottom - lower)
        in_tier, tier_name = texts[number]
        if quantity > ZERO:
            what = f"{unit}s" if tier.block_size is None else "started blocks"
            text = f"{name}: {_units(quantity)} {what}{in_tier}{included}"
            lines.append(_line(text, quantity, tier.unit_amount, currency))
        if tier.flat_amount and before <= lower < now:
            text = f"{name}: {tier_name} flat fee"
            lines.append(_line(text, Decimal(1), tier.flat_amount, currency))
        if upper is None or now <= upper:
            break
        lower = upper
    return lines


def _volume(
    charge: UsageCharge, before: Decimal, now: Decimal, included: str, currency: str
) -> list[UsageLine]:
    tiers = charge.price.tiers
    if now <= ZERO or now == before:
        return []
    name, unit = charge.name, charge.unit
    tier = _volume_tier(tiers, now)
    if before > ZERO and _volume_tier(tiers, before) is tier:
        quantity = tier.quantity(now) - tier.quantity(before)
        if not quantity:
            return []
        text = (
            f"{name}: {_units(quantity)} more {unit}s at the volume price "
            f"{tier.priced()} ({_units(now)} billable in the period{included})"
        )
        return [_line(text, quantity, tier.unit_amount, currency)]
    text = f"{name}: {_units(now)} {unit}s at the volume price {tier.priced()}{included}"
    lines = [_line(text, tier.quantity(now), tier.unit_amount, currency)]
    if tier.flat_amount:
        lines.append(_line(f"{name}: volume tier flat fee", Decimal(1), tier.flat_amount, currency))
    if before > ZERO:
        # What the earlier invoice charged, line by line as it was rounded.
        earlier = _volume_tier(tiers, before)
        already = round_money(
            earlier.quantity(before) * earlier.unit_amount, currency
        ) + round_money(earlier.flat_amount, currency)
        text = f"{name}: less the {_units(before)} {unit}s already invoiced for this period"
        lines.append(UsageLine(text, Decimal(1), already, -already))
    return lines
