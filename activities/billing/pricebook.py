"""The price book: plans, per-seat add-ons and usage add-ons, from ``config/pricebook.yaml``.

The billing team edits the file; loading checks every entry and an error
names it (``pricebook: plans.business.prices.year.JPY: must be a whole number
of Japanese yen (JPY has 0 decimal places)``), so a bad price never reaches an
invoice. The loaded book is plain frozen data that the invoicing engine reads
without further checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

import yaml
from babel.numbers import get_currency_name
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from activities.billing.money import ZERO, check_currency, minor_digits, round_money
from activities.billing.proration import Interval
from activities.billing.usage import Tier, UsagePrice
from activities.settings import config_dir

#: The intervals every price book item is priced in (a weekly price comes from a request).
INTERVALS: tuple[Interval, ...] = ("month", "quarter", "year")
#: Usage unit prices may go below the minor unit, to this many places (the
#: ledger keeps unit amounts to four places).
USAGE_PRICE_PLACES = 4


_T = TypeVar("_T")


class PriceBookError(ValueError):
    """The price book file is wrong, or a price asked for is not in it."""


@dataclass(frozen=True, slots=True)
class SeatPrice:
    """What one seat of an item costs per billing interval, in the invoice's currency.

    ``in_arrears``: billed at the end of the period for the time it was held
    (seat-days), not in advance (Lago's ``pay_in_advance: false``, Kill Bill's
    ``IN_ARREAR`` billing mode)."""

    code: str
    name: str
    unit_amount: Decimal
    in_arrears: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    code: str
    name: str
    min_seats: int
    max_seats: int | None
    prices: Mapping[tuple[str, str], Decimal]  # (interval, currency) -> per-seat price

    def check_seats(self, seats: int) -> None:
        """Refuse a seat count outside the plan's limits (order validation)."""
        if seats < self.min_seats:
            raise PriceBookError(
                f"seats: {seats} is below the {self.name} plan's minimum of {self.min_seats}"
            )
        if self.max_seats is not None and seats > self.max_seats:
            raise PriceBookError(
                f"seats: {seats} is above the {self.name} plan's maximum of {self.max_seats}"
            )


@dataclass(frozen=True, slots=True)
class SeatAddon:
    code: str
    name: str
    plans: frozenset[str]
    prices: Mapping[tuple[str, str], Decimal]  # (interval, currency) -> per-seat price
    #: Add-ons that must be on the same subscription (data residency builds on security).
    requires: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class UsageAddon:
    code: str
    name: str
    unit: str
    prices: Mapping[str, UsagePrice]  # currency -> price, before included units
    included: Mapping[str, Decimal]  # plan -> units included per usage period


@dataclass(frozen=True, slots=True)
class PriceBook:
    currencies: tuple[str, ...]
    plans: Mapping[str, Plan]
    seat_addons: Mapping[str, SeatAddon]
    usage_addons: Mapping[str, UsageAddon]
    #: currency -> the billing countries (ISO 3166-1) it is sold to; None: anywhere. A
    #: currency the book does not list here is sold anywhere.
    markets: Mapping[str, frozenset[str] | None] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def sold_to(self, currency: str, country: str) -> bool:
        """Whether the price book sells in ``currency`` to a customer billed in ``country``."""
        countries = self.markets.get(currency)
        return countries is None or country in countries

    def plan(self, code: str) -> Plan:
        return _find(self.plans, code, "plan")

    def plan_price(self, code: str, interval: Interval, currency: str) -> SeatPrice:
        plan = self.plan(code)
        return SeatPrice(
            code, plan.name, _priced(plan.prices, code, interval, self._currency(currency))
        )

    def addon_price(self, code: str, interval: Interval, currency: str, plan: str) -> SeatPrice:
        """The per-seat add-on's price; refused when the plan does not offer it."""
        addon = _find(self.seat_addons, code, "seat add-on")
        if plan not in addon.plans:
            offered = ", ".join(sorted(addon.plans))
            raise PriceBookError(
                f"add-on {code!r} is not available on the {plan} plan (only on {offered})"
            )
        amount = _priced(addon.prices, code, interval, self._currency(currency))
        return SeatPrice(code, addon.name, amount)

    def usage_addon(self, code: str) -> UsageAddon:
        return _find(self.usage_addons, code, "usage add-on")

    def usage_price(self, code: str, currency: str, plan: str | None) -> UsagePrice:
        """The usage add-on's price, with the units ``plan`` includes (none without a plan)."""
        addon = self.usage_addon(code)
        price = addon.prices[self._currency(currency)]
        if plan is None:
            return price
        return replace(price, included=addon.included.get(self.plan(plan).code, ZERO))

    def _currency(self, currency: str) -> str:
        if currency not in self.currencies:
            raise PriceBookError(
                f"currency {currency!r} is not in the price book ({', '.join(self.currencies)})"
            )
        return currency


def _priced(
    prices: Mapping[tuple[str, str], Decimal], code: str, interval: str, currency: str
) -> Decimal:
    try:
        return prices[interval, currency]
    except KeyError:
        raise PriceBookError(
            f"{code!r} has no {interval} price in the price book (it has month, quarter and "
            "year); give its unit_amount"
        ) from None


def _find(table: Mapping[str, _T], code: str, what: str) -> _T:
    try:
        return table[code]
    except KeyError:
        raise PriceBookError(f"unknown {what} {code!r} (known: {', '.join(table)})") from None


# --- The file's shape, checked by pydantic -----------------------------------


def _decimal_text(value: object) -> object:
    """Amounts are quoted strings or integers; a YAML float has already lost exactness."""
    if isinstance(value, float):
        raise ValueError(
            f'write the amount as a quoted decimal string such as "{value}"; '
            "YAML reads a bare decimal as a binary float"
        )
    if isinstance(value, bool):
        raise ValueError("must be an amount, not true/false")
    if isinstance(value, int | str):
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal amount") from None
        if not amount.is_finite():
            raise ValueError(f"{value!r} is not a finite amount")
        return amount
    return value


_Amount = Annotated[Decimal, BeforeValidator(_decimal_text)]
_ByCurrency = dict[str, _Amount]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class _SeatLimits(_Strict):
    min: int = Field(ge=1)
    max: int | None = Field(default=None, ge=1)


class _PlanIn(_Strict):
    name: str = Field(min_length=1)
    seats: _SeatLimits
    prices: dict[str, _ByCurrency]


class _SeatAddonIn(_Strict):
    name: str = Field(min_length=1)
    plans: list[str] = Field(min_length=1)
    requires: list[str] = Field(default_factory=list)
    prices: dict[str, _ByCurrency]


class _TierIn(_Strict):
    up_to: int | None = Field(ge=1)
    unit_price: _ByCurrency
    flat_price: _ByCurrency | None = None
    block_size: int | None = Field(default=None, ge=1)  # unit_price per started block


class _UsageAddonIn(_Strict):
    name: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    model: Literal["per_unit", "block", "graduated", "volume"]
    included: dict[str, int] = Field(default_factory=dict)
    unit_price: _ByCurrency | None = None
    block_size: int | None = Field(default=None, ge=1)
    block_price: _ByCurrency | None = None
    tiers: list[_TierIn] | None = None


class _PriceBookIn(_Strict):
    currencies: list[str] = Field(min_length=1)
    plans: dict[str, _PlanIn] = Field(min_length=1)
    seat_addons: dict[str, _SeatAddonIn] = Field(default_factory=dict)
    usage_addons: dict[str, _UsageAddonIn] = Field(default_factory=dict)
    #: currency -> billing countries, or ["*"] for anywhere
    markets: dict[str, list[str]] = Field(default_factory=dict)


# --- Rules the shape cannot say, each error naming its entry -----------------


class _Checker:
    def __init__(self, currencies: tuple[str, ...]) -> None:
        self.currencies = currencies
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"pricebook: {path}: {message}")

    def by_currency(
        self, path: str, amounts: Mapping[str, Decimal], whole_minor_units: bool
    ) -> None:
        for currency in self.currencies:
            if currency not in amounts:
                self.fail(
                    path, f"missing {currency} (every price has {', '.join(self.currencies)})"
                )
        for currency, amount in amounts.items():
            where = f"{path}.{currency}"
            if currency not in self.currencies:
                self.fail(where, f"{currency} is not one of the book's currencies")
                continue
            if amount < 0:
                self.fail(where, "must not be negative")
            elif whole_minor_units and amount != round_money(amount, currency):
                digits = minor_digits(currency)
                if digits == 0:
                    unit = get_currency_name(currency, count=2, locale="en")
                    self.fail(
                        where, f"must be a whole number of {unit} ({currency} has 0 decimal places)"
                    )
                else:
                    self.fail(
                        where,
                        f"must be whole minor units ({currency} has {digits} decimal places)",
                    )
            elif not whole_minor_units and amount != round(amount, USAGE_PRICE_PLACES):
                self.fail(where, f"at most {USAGE_PRICE_PLACES} decimal places")

    def intervals(self, path: str, prices: Mapping[str, Mapping[str, Decimal]]) -> None:
        for interval in INTERVALS:
            if interval not in prices:
                self.fail(
                    path, f"missing the {interval} price (every item has month, quarter, year)"
                )
        for key, amounts in prices.items():
            if key not in INTERVALS:
                self.fail(f"{path}.{key}", "interval must be month, quarter or year")
                continue
            self.by_currency(f"{path}.{key}", amounts, whole_minor_units=True)
            for currency, amount in amounts.items():
                if amount == 0:
                    self.fail(f"{path}.{key}.{currency}", "a seat price must be above zero")

    def usage(self, code: str, addon: _UsageAddonIn, plans: Mapping[str, _PlanIn]) -> None:
        path = f"usage_addons.{code}"
        for plan, units in addon.included.items():
            if plan not in plans:
                self.fail(f"{path}.included.{plan}", f"unknown plan (known: {', '.join(plans)})")
            if units < 0:
                self.fail(f"{path}.included.{plan}", "must not be negative")
        needs = {
            "per_unit": ("unit_price",),
            "block": ("block_size", "block_price"),
            "graduated": ("tiers",),
            "volume": ("tiers",),
        }[addon.model]
        for name in ("unit_price", "block_size", "block_price", "tiers"):
            given = getattr(addon, name) is not None
            if name in needs and not given:
                self.fail(path, f"the {addon.model} model needs {name}")
            elif given and name not in needs:
                self.fail(f"{path}.{name}", f"not used by the {addon.model} model")
        if addon.unit_price is not None:
            self.by_currency(f"{path}.unit_price", addon.unit_price, whole_minor_units=False)
        if addon.block_price is not None:
            self.by_currency(f"{path}.block_price", addon.block_price, whole_minor_units=True)
        if addon.tiers is not None:
            self.tiers(f"{path}.tiers", addon.tiers)

    def tiers(self, path: str, tiers: list[_TierIn]) -> None:
        if not tiers:
            self.fail(path, "needs at least one tier")
            return
        previous = 0
        for number, tier in enumerate(tiers):
            where = f"{path}[{number}]"
            last = number == len(tiers) - 1
            if tier.up_to is None and not last:
                self.fail(f"{where}.up_to", "only the last tier may be unlimited (null)")
            if tier.up_to is not None:
                if last:
                    self.fail(f"{where}.up_to", "the last tier must be unlimited (null)")
                if tier.up_to <= previous:
                    self.fail(f"{where}.up_to", f"must be above the previous tier's {previous}")
                previous = tier.up_to
            self.by_currency(f"{where}.unit_price", tier.unit_price, whole_minor_units=False)
            if tier.flat_price is not None:
                self.by_currency(f"{where}.flat_price", tier.flat_price, whole_minor_units=True)


def parse_pricebook(data: Any) -> PriceBook:
    """Check the price book's content (as read from YAML) and build the typed book."""
    try:
        raw = _PriceBookIn.model_validate(data)
    except ValidationError as error:
        problems = [
            f"pricebook: {'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        ]
        raise PriceBookError("\n".join(problems)) from None
    currencies = tuple(raw.currencies)
    check = _Checker(currencies)
    for number, currency in enumerate(currencies):
        try:
            check_currency(currency)
        except ValueError as error:
            check.fail(f"currencies[{number}]", str(error))
    if check.problems:
        raise PriceBookError("\n".join(check.problems))
    for code, plan in raw.plans.items():
        if plan.seats.max is not None and plan.seats.max < plan.seats.min:
            check.fail(f"plans.{code}.seats.max", f"is below the minimum of {plan.seats.min}")
        check.intervals(f"plans.{code}.prices", plan.prices)
    for code, addon in raw.seat_addons.items():
        for plan_code in addon.plans:
            if plan_code not in raw.plans:
                check.fail(
                    f"seat_addons.{code}.plans",
                    f"unknown plan {plan_code!r} (known: {', '.join(raw.plans)})",
                )
        check.intervals(f"seat_addons.{code}.prices", addon.prices)
        for required in addon.requires:
            if required == code or required not in raw.seat_addons:
                check.fail(
                    f"seat_addons.{code}.requires",
                    f"{required!r} is not another seat add-on (known: "
                    f"{', '.join(raw.seat_addons)})",
                )
    for currency, countries in raw.markets.items():
        if currency not in currencies:
            check.fail(f"markets.{currency}", "not a currency of the price book")
        for country in countries:
            if country != "*" and not (
                len(country) == 2 and country.isascii() and country.isupper()
            ):
                check.fail(f"markets.{currency}", f"{country!r} is not an ISO 3166-1 code or *")
    for code, usage in raw.usage_addons.items():
        check.usage(code, usage, raw.plans)
    clash = set(raw.plans) & (set(raw.seat_addons) | set(raw.usage_addons))
    clash |= set(raw.seat_addons) & set(raw.usage_addons)
    for code in sorted(clash):
        check.fail(code, "the same code is used twice; plan and add-on codes must be unique")
    if check.problems:
        raise PriceBookError("\n".join(check.problems))
    return PriceBook(
        currencies=currencies,
        plans=MappingProxyType(
            {
                code: Plan(
                    code, plan.name, plan.seats.min, plan.seats.max, _seat_prices(plan.prices)
                )
                for code, plan in raw.plans.items()
            }
        ),
        seat_addons=MappingProxyType(
            {
                code: SeatAddon(
                    code,
                    addon.name,
                    frozenset(addon.plans),
                    _seat_prices(addon.prices),
                    frozenset(addon.requires),
                )
                for code, addon in raw.seat_addons.items()
            }
        ),
        usage_addons=MappingProxyType(
            {
                code: UsageAddon(
                    code,
                    usage.name,
                    usage.unit,
                    _usage_prices(usage, currencies),
                    MappingProxyType(
                        {plan: Decimal(units) for plan, units in usage.included.items()}
                    ),
                )
                for code, usage in raw.usage_addons.items()
            }
        ),
        markets=MappingProxyType(
            {
                currency: None if "*" in countries else frozenset(countries)
                for currency, countries in raw.markets.items()
            }
        ),
    )


def _seat_prices(prices: Mapping[str, Mapping[str, Decimal]]) -> Mapping[tuple[str, str], Decimal]:
    return MappingProxyType(
        {
            (interval, currency): amount
            for interval, amounts in prices.items()
            for currency, amount in amounts.items()
        }
    )


def _usage_prices(usage: _UsageAddonIn, currencies: tuple[str, ...]) -> Mapping[str, UsagePrice]:
    prices: dict[str, UsagePrice] = {}
    for currency in currencies:
        zero = round_money(ZERO, currency)
        if usage.model == "per_unit":
            assert usage.unit_price is not None
            prices[currency] = UsagePrice("per_unit", unit_amount=usage.unit_price[currency])
        elif usage.model == "block":
            assert usage.block_price is not None and usage.block_size is not None
            prices[currency] = UsagePrice(
                "block",
                unit_amount=usage.block_price[currency],
                block_size=Decimal(usage.block_size),
            )
        else:
            assert usage.tiers is not None
            tiers = tuple(
                Tier(
                    None if tier.up_to is None else Decimal(tier.up_to),
                    tier.unit_price[currency],
                    zero if tier.flat_price is None else tier.flat_price[currency],
                    None if tier.block_size is None else Decimal(tier.block_size),
                )
                for tier in usage.tiers
            )
            prices[currency] = UsagePrice(usage.model, tiers=tiers)
    return MappingProxyType(prices)


def read_pricebook(path: Path) -> PriceBook:
    """Load and check the price book at ``path``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PriceBookError(f"pricebook: cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise PriceBookError(f"pricebook: {path} is not valid YAML: {error}") from None
    return parse_pricebook(data)


@cache
def _load(path: Path) -> PriceBook:
    return read_pricebook(path)


def load_pricebook(path: str | Path | None = None) -> PriceBook:
    """The price book, by default ``CONFIG_DIR/pricebook.yaml``; read once per path, cached."""
    resolved = Path(path).resolve() if path is not None else config_dir() / "pricebook.yaml"
    return _load(resolved)
