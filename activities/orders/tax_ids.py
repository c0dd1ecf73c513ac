"""Tax registration numbers: the schemes we accept, checked by ``python-stdnum``.

A scheme name is what the ledger stores beside the number (``eu_vat``,
``gb_vat``, ``us_ein``...). python-stdnum checks length, format and check
digits for each country's number; it does not ask the tax authority whether
the number is registered (that is VIES's or HMRC's job, not an order check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from stdnum import exceptions as stdnum_errors
from stdnum.au import abn
from stdnum.ca import bn
from stdnum.ch import vat as ch_vat
from stdnum.eu import vat as eu_vat
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin
from stdnum.jp import cn
from stdnum.no import mva
from stdnum.nz import ird
from stdnum.sg import uen
from stdnum.us import ein


class _NumberFormat(Protocol):
    def validate(self, number: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Scheme:
    label: str
    country: str | None  # None: the number's own prefix says (EU VAT)
    number: _NumberFormat


SCHEMES: dict[str, Scheme] = {
    "eu_vat": Scheme("EU VAT number", None, eu_vat),
    "gb_vat": Scheme("UK VAT number", "GB", gb_vat),
    "us_ein": Scheme("US Employer Identification Number", "US", ein),
    "au_abn": Scheme("Australian Business Number", "AU", abn),
    "ca_bn": Scheme("Canadian Business Number", "CA", bn),
    "ch_vat": Scheme("Swiss VAT number", "CH", ch_vat),
    "no_vat": Scheme("Norwegian VAT number", "NO", mva),
    "nz_gst": Scheme("New Zealand IRD/GST number", "NZ", ird),
    "sg_uen": Scheme("Singapore UEN", "SG", uen),
    "jp_cn": Scheme("Japanese Corporate Number", "JP", cn),
    "in_gst": Scheme("Indian GSTIN", "IN", gstin),
}

#: EU VAT prefixes that are not the ISO country code.
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}

_RULES: tuple[tuple[type[stdnum_errors.ValidationError], str], ...] = (
    (stdnum_errors.InvalidChecksum, "checksum"),
    (stdnum_errors.InvalidLength, "length"),
    (stdnum_errors.InvalidFormat, "format"),
    (stdnum_errors.InvalidComponent, "component"),
)


@dataclass(frozen=True, slots=True)
class TaxIdCheck:
    """The outcome for one number: its compact form and country, or the rule it breaks."""

    value: str
    country: str | None
    rule: str | None = None
    message: str | None = None


def check_tax_id(scheme_name: str, value: str) -> TaxIdCheck:
    """Check ``value`` as a number of ``scheme_name``; a broken rule is named, never raised."""
    scheme = SCHEMES.get(scheme_name)
    if scheme is None:
        known = ", ".join(SCHEMES)
        return TaxIdCheck(
            value, None, "unknown_scheme", f"{scheme_name!r} is not a tax id scheme ({known})"
        )
    try:
        compact = scheme.number.validate(value)
    except stdnum_errors.ValidationError as error:
        rule = next((name for kind, name in _RULES if isinstance(error, kind)), "format")
        return TaxIdCheck(
            value, scheme.country, rule, f"{value!r} is not a valid {scheme.label}: {error}"
        )
    country = scheme.country
    if country is None:
        prefix = compact[:2].upper()
        country = _VAT_PREFIX_COUNTRY.get(prefix, prefix)
    return TaxIdCheck(compact, country)
