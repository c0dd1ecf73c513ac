"""Tax by the customer's jurisdiction, from ``config/tax_rates.yaml``.

Which rate applies is decided once per invoice (:func:`tax_treatment`);
the tax itself is computed and rounded on every line (:func:`line_tax`), so
an invoice's tax total is the sum of its lines' tax, as printed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from stdnum.eu import vat as eu_vat

from activities.billing.money import ZERO, round_money
from activities.settings import config_dir

_JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class TaxError(ValueError):
    """An unknown jurisdiction, or a tax table that does not hold together."""


@dataclass(frozen=True, slots=True)
class TaxRate:
    name: str
    rate: Decimal
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TaxTable:
    seller_country: str
    reverse_charge_countries: frozenset[str]
    reverse_charge_note: str
    rates: Mapping[str, TaxRate]


#: EN 16931 VAT category codes (UNTDID 5305) the invoices use.
STANDARD, ZERO_RATED, EXEMPT, REVERSE_CHARGE, OUTSIDE_SCOPE = "S", "Z", "E", "AE", "O"


@dataclass(frozen=True, slots=True)
class TaxTreatment:
    """The rate every line of one invoice is taxed at, and what the invoice says about it.

    ``category`` is the EN 16931 VAT category of every line; an exempt or
    reverse-charged invoice also names why (``exemption_reason``, and the
    VATEX code e-invoices carry), which the ledger stores and documents print.
    """

    rate: Decimal
    label: str
    note: str | None = None
    category: str = STANDARD
    exemption_reason: str | None = None
    exemption_code: str | None = None


#: For callers that compute without tax (internal estimates, tests of the math).
NO_TAX = TaxTreatment(ZERO, "No tax", category=OUTSIDE_SCOPE)


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def tax_treatment(
    table: TaxTable, jurisdiction: str, *, exempt: bool = False, vat_id: str | None = None
) -> TaxTreatment:
    """The tax for a customer in ``jurisdiction`` (``GB``, ``US-NY``, ``CA-ON``).

    A tax-exempt customer pays none. A business customer with a VAT id in an
    EU country other than the seller's pays none either: the invoice carries
    the reverse-charge note. Otherwise the subdivision's rate applies, or the
    country's when the subdivision is not listed.
    """
    if not _JURISDICTION.match(jurisdiction):
        raise TaxError(
            f"customer.jurisdiction: {jurisdiction!r} is not an ISO 3166 code such as GB or US-NY"
        )
    country = jurisdiction[:2]
    if exempt:
        return TaxTreatment(
            ZERO,
            "Tax exempt",
            "Tax exempt: exemption certificate on file.",
            category=EXEMPT,
            exemption_reason="Exempt customer: exemption certificate on file",
        )
    if vat_id and reverse_charge_applies(table, country, vat_id):
        return TaxTreatment(
            ZERO,
            "Reverse charge",
            f"{table.reverse_charge_note} Customer VAT id: {vat_id}.",
            category=REVERSE_CHARGE,
            exemption_reason=table.reverse_charge_note,
            exemption_code="VATEX-EU-AE",
        )
    entry = table.rates.get(jurisdiction) or table.rates.get(country)
    if entry is None:
        raise TaxError(
            f"customer.jurisdiction: no tax rate for {jurisdiction!r} in config/tax_rates.yaml; "
            "add the country before invoicing customers there"
        )
    return TaxTreatment(
        entry.rate,
        f"{entry.name} {_percent(entry.rate)}",
        entry.note,
        category=STANDARD if entry.rate else ZERO_RATED,
    )


#: EU VAT prefixes that are not the ISO country code (Greece; Northern Ireland is not an EU
#: member state for services).
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}


def vat_id_country(vat_id: str) -> str | None:
    """The country of a valid EU VAT id (``EL`` is Greece), or ``None`` when it is not one."""
    if not eu_vat.is_valid(vat_id):
        return None
    prefix = eu_vat.compact(vat_id)[:2].upper()
    return _VAT_PREFIX_COUNTRY.get(prefix, prefix)


def reverse_charge_applies(table: TaxTable, country: str, vat_id: str) -> bool:
    """Reverse charge needs a valid VAT id registered in the customer's own EU country, and
    that country is not the seller's: a German customer quoting an Irish (the seller's) or
    a French VAT id pays VAT like anyone without one."""
    return (
        country in table.reverse_charge_countries
        and country != table.seller_country
        and vat_id_country(vat_id) == country
    )


def line_tax(taxable: Decimal, treatment: TaxTreatment, currency: str) -> Decimal:
    """Tax on one line's net amount, rounded once to the currency (negative on credits)."""
    return round_money(taxable * treatment.rate, currency)


# --- Loading -----------------------------------------------------------------


def _rate_text(value: object) -> object:
    if isinstance(value, float):
        raise ValueError(f'write the rate as a quoted decimal string such as "{value}"')
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _SellerIn(_Strict):
    country: str = Field(pattern=_COUNTRY.pattern)


class _ReverseChargeIn(_Strict):
    countries: list[Annotated[str, Field(pattern=_COUNTRY.pattern)]]
    note: str = Field(min_length=1)


class _RateIn(_Strict):
    name: str = Field(min_length=1)
    rate: Annotated[Decimal, BeforeValidator(_rate_text), Field(ge=0, lt=1)]
    note: str | None = None


class _TaxTableIn(_Strict):
    seller: _SellerIn
    reverse_charge: _ReverseChargeIn
    rates: dict[str, _RateIn] = Field(min_length=1)


def parse_tax_table(data: Any) -> TaxTable:
    """Check the tax table's content (as read from YAML) and build the typed table."""
    try:
        raw = _TaxTableIn.model_validate(data)
    except ValidationError as error:
        problems = [
            f"tax_rates: {'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        ]
        raise TaxError("\n".join(problems)) from None
    problems = [
        f"tax_rates: rates.{code}: not an ISO 3166 code such as GB or US-NY"
        for code in raw.rates
        if not _JURISDICTION.match(code)
    ]
    if problems:
        raise TaxError("\n".join(problems))
    return TaxTable(
        seller_country=raw.seller.country,
        reverse_charge_countries=frozenset(raw.reverse_charge.countries),
        reverse_charge_note=raw.reverse_charge.note,
        rates=MappingProxyType(
            {code: TaxRate(entry.name, entry.rate, entry.note) for code, entry in raw.rates.items()}
        ),
    )


def read_tax_table(path: Path) -> TaxTable:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TaxError(f"tax_rates: cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise TaxError(f"tax_rates: {path} is not valid YAML: {error}") from None
    return parse_tax_table(data)


@cache
def _load(path: Path) -> TaxTable:
    return read_tax_table(path)


def load_tax_table(path: str | Path | None = None) -> TaxTable:
    """The tax table, by default ``CONFIG_DIR/tax_rates.yaml``; read once per path, cached."""
    resolved = Path(path).resolve() if path is not None else config_dir() / "tax_rates.yaml"
    return _load(resolved)
