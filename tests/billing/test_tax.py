"""Tax by jurisdiction, exemptions, reverse charge, rounding per line."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from activities.billing.tax import (
    TaxError,
    line_tax,
    load_tax_table,
    parse_tax_table,
    tax_treatment,
)


def test_rates_by_country_and_subdivision() -> None:
    table = load_tax_table()
    assert table.seller_country == "IE"
    assert tax_treatment(table, "GB").label == "VAT 20%"
    assert tax_treatment(table, "DE").rate == Decimal("0.19")
    assert tax_treatment(table, "JP").rate == Decimal("0.10")
    assert tax_treatment(table, "CA-ON").label == "HST 13%"
    assert tax_treatment(table, "CA-MB").label == "GST 5%"  # falls back to the country
    assert tax_treatment(table, "US-NY").rate == Decimal("0.04")
    assert tax_treatment(table, "US-CA").rate == 0
    assert tax_treatment(table, "NO").rate == Decimal("0.25")  # YAML's bare NO would be false


def test_exemption_and_reverse_charge() -> None:
    table = load_tax_table()
    exempt = tax_treatment(table, "US-NY", exempt=True)
    assert exempt.rate == 0 and exempt.label == "Tax exempt"
    reverse = tax_treatment(table, "FR", vat_id="FR40303265045")
    assert reverse.rate == 0 and reverse.label == "Reverse charge"
    assert (
        reverse.note is not None
        and "Article 196" in reverse.note
        and "FR40303265045" in reverse.note
    )
    # VAT is charged in the seller's own country, VAT id or not; outside the EU an id
    # changes nothing.
    assert tax_treatment(table, "IE", vat_id="IE6388047V").rate == Decimal("0.23")
    assert tax_treatment(table, "GB", vat_id="GB123456789").rate == Decimal("0.20")


def test_reverse_charge_needs_a_valid_vat_id_of_the_customers_own_country() -> None:
    """A German customer quoting the seller's (Irish) or a French VAT id, or a number that
    fails its check digits, pays German VAT: only a valid DE id reverse-charges."""
    table = load_tax_table()
    for vat_id in ("IE6388047V", "FR40303265045", "DE136695977", "not a number"):
        treatment = tax_treatment(table, "DE", vat_id=vat_id)
        assert (treatment.rate, treatment.label) == (Decimal("0.19"), "VAT 19%"), vat_id
    assert tax_treatment(table, "DE", vat_id="DE 136 695 976").label == "Reverse charge"
    assert tax_treatment(table, "GR", vat_id="EL094259216").label == "Reverse charge"  # EL is GR


def test_unknown_or_malformed_jurisdictions() -> None:
    table = load_tax_table()
    with pytest.raises(TaxError, match=r"customer.jurisdiction: no tax rate for 'BR'"):
        tax_treatment(table, "BR")
    with pytest.raises(TaxError, match=r"customer.jurisdiction: 'usa' is not an ISO 3166 code"):
        tax_treatment(table, "usa")


def test_tax_is_rounded_on_each_line() -> None:
    ny = tax_treatment(load_tax_table(), "US-NY")
    assert line_tax(Decimal("88.71"), ny, "USD") == Decimal("3.55")
    assert line_tax(Decimal("-145.60"), ny, "USD") == Decimal("-5.82")
    jp = tax_treatment(load_tax_table(), "JP")
    assert line_tax(Decimal("2645"), jp, "JPY") == Decimal("265")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {
                "seller": {"country": "IE"},
                "reverse_charge": {"countries": [], "note": "x"},
                "rates": {"GB": {"name": "VAT", "rate": 0.2}},
            },
            "tax_rates: rates.GB.rate: Value error, write the rate as a quoted decimal string",
        ),
        (
            {
                "seller": {"country": "IE"},
                "reverse_charge": {"countries": [], "note": "x"},
                "rates": {"gb": {"name": "VAT", "rate": "0.2"}},
            },
            "tax_rates: rates.gb: not an ISO 3166 code",
        ),
        (
            {
                "seller": {"country": "IE"},
                "reverse_charge": {"countries": [], "note": "x"},
                "rates": {"GB": {"name": "VAT", "rate": "1.2"}},
            },
            "tax_rates: rates.GB.rate: Input should be less than 1",
        ),
    ],
)
def test_bad_tables_name_the_entry(table: Any, message: str) -> None:
    with pytest.raises(TaxError) as raised:
        parse_tax_table(table)
    assert message in str(raised.value)
