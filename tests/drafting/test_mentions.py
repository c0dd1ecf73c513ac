"""Reading figures the way people write them: separators, currency signs, written dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from activities.drafting.mentions import find_mentions, number_readings


@pytest.mark.parametrize(
    ("written", "readings"),
    [
        ("1,234.50", {"1234.50"}),
        ("1.234,50", {"1234.50"}),
        ("1 234,50", {"1234.50"}),
        ("1'234.50", {"1234.50"}),
        ("12,000", {"12000", "12.000"}),  # a single group of three: both readings kept
        ("0,500", {"0.500"}),
        ("1,5", {"1.5"}),
        ("1,234,567", {"1234567"}),
        ("1.234.567,89", {"1234567.89"}),
        ("1.2.3,4,5", set()),
    ],
)
def test_number_readings(written: str, readings: set[str]) -> None:
    assert number_readings(written) == {Decimal(r) for r in readings}


@pytest.mark.parametrize(
    ("text", "value", "currencies"),
    [
        ("pay $1,234.50 today", "1234.50", {"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"}),
        ("Betrag: 1.234,50 € offen", "1234.50", {"EUR"}),
        ("¥12,000 is due", "12000", {"JPY", "CNY"}),
        ("12,000 yen is due", "12000", {"JPY"}),
        ("USD 1 234.50 open", "1234.50", {"USD"}),
        ("1234.50 USD open", "1234.50", {"USD"}),
        ("£99.00 credit", "99.00", {"GBP"}),
        ("a US$15.00 fee", "15.00", {"USD"}),
        ("balance of 7.250,000 KWD", "7250.000", {"KWD"}),
    ],
)
def test_amounts_in_many_styles(text: str, value: str, currencies: set[str]) -> None:
    (amount,) = find_mentions(text).amounts
    assert Decimal(value) in amount.values
    assert amount.currencies == currencies


def test_three_letter_words_in_lowercase_are_not_currencies() -> None:
    found = find_mentions("we will try 3 all options")
    assert found.amounts == []
    assert [n.text for n in found.numbers] == ["3"]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("due 2026-11-03.", date(2026, 11, 3)),
        ("due November 3, 2026.", date(2026, 11, 3)),
        ("due Nov. 3rd, 2026.", date(2026, 11, 3)),
        ("due 3 November 2026.", date(2026, 11, 3)),
        ("due the 3rd of November 2026.", date(2026, 11, 3)),
        ("due Tuesday, 3 Nov 2026.", date(2026, 11, 3)),
        ("fällig am 03.11.2026.", date(2026, 11, 3)),
        ("due 2026/11/03.", date(2026, 11, 3)),
    ],
)
def test_written_dates(text: str, day: date) -> None:
    (mention,) = find_mentions(text).dates
    assert any(reading.as_date() == day for reading in mention.readings)
    assert find_mentions(text).numbers == []  # the day and year are not read again


def test_slashed_dates_keep_both_orders() -> None:
    (mention,) = find_mentions("due 11/03/2026").dates
    assert {r.as_date() for r in mention.readings} == {date(2026, 3, 11), date(2026, 11, 3)}


def test_dates_without_a_year_or_a_day() -> None:
    found = find_mentions("paid on October 15; the November 2026 invoice")
    assert [(r.year, r.month, r.day) for m in found.dates for r in m.readings] == [
        (None, 10, 15),
        (2026, 11, None),
    ]


def test_documents_links_percentages_and_plain_numbers() -> None:
    found = find_mentions(
        "INV-000123 and CN-000007 (5% late fee, 7.5 percent tax) for 3 seats: "
        "see https://pay.example.com/c/CUS-1. or mail ar@example.com, the 2nd reminder"
    )
    assert found.documents == ["INV-000123", "CN-000007"]
    assert found.links == ["https://pay.example.com/c/cus-1", "ar@example.com"]
    assert [set(p.values) for p in found.percentages] == [{Decimal(5)}, {Decimal("7.5")}]
    assert [n.text for n in found.numbers] == ["3", "2nd"]
