"""The price book file: loading it, and errors that name the bad entry."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.billing.pricebook import (
    PriceBookError,
    load_pricebook,
    parse_pricebook,
    read_pricebook,
)

CONFIG = Path(__file__).resolve().parents[2] / "config" / "pricebook.yaml"


@pytest.fixture
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return copy.deepcopy(loaded)


def test_the_shipped_price_book_loads() -> None:
    book = load_pricebook()
    assert load_pricebook() is book
    assert book.currencies == ("USD", "EUR", "GBP", "JPY")
    assert list(book.plans) == ["plus", "business", "enterprise"]
    assert book.plan_price("business", "year", "JPY").unit_amount == Decimal("37000")
    assert book.addon_price("advanced_security", "month", "EUR", "business").name == (
        "Advanced Security"
    )
    api = book.usage_price("api_calls", "USD", "business")
    assert api.included == 100_000 and api.model == "graduated" and len(api.tiers) == 3
    assert book.usage_price("ai_credits", "GBP", "plus").included == 0
    storage = book.usage_price("storage", "JPY", None)
    assert (storage.block_size, storage.unit_amount) == (Decimal(100), Decimal("1500"))


def test_lookups_name_what_is_missing() -> None:
    book = load_pricebook()
    with pytest.raises(
        PriceBookError, match=r"unknown plan 'pro' \(known: plus, business, enterprise\)"
    ):
        book.plan_price("pro", "month", "USD")
    with pytest.raises(PriceBookError, match=r"currency 'CHF' is not in the price book"):
        book.plan_price("plus", "month", "CHF")
    with pytest.raises(
        PriceBookError, match=r"not available on the plus plan \(only on business, enterprise\)"
    ):
        book.addon_price("advanced_security", "month", "USD", "plus")


def test_seat_limits() -> None:
    business = load_pricebook().plan("business")
    business.check_seats(5)
    business.check_seats(500)
    with pytest.raises(PriceBookError, match="seats: 4 is below the Business plan's minimum of 5"):
        business.check_seats(4)
    with pytest.raises(
        PriceBookError, match="seats: 501 is above the Business plan's maximum of 500"
    ):
        business.check_seats(501)
    load_pricebook().plan("enterprise").check_seats(100_000)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["plans"]["business"]["prices"]["year"].update(JPY="37000.5"),
            "pricebook: plans.business.prices.year.JPY: must be a whole number of Japanese yen "
            "(JPY has 0 decimal places)",
        ),
        (
            lambda d: d["plans"]["plus"]["prices"]["month"].update(USD="12.001"),
            "pricebook: plans.plus.prices.month.USD: must be whole minor units "
            "(USD has 2 decimal places)",
        ),
        (
            lambda d: d["plans"]["plus"]["prices"]["month"].update(USD=12.1),
            "pricebook: plans.plus.prices.month.USD: Value error, write the amount as a quoted "
            'decimal string such as "12.1"',
        ),
        (
            lambda d: d["plans"]["plus"]["prices"]["quarter"].pop("GBP"),
            "pricebook: plans.plus.prices.quarter: missing GBP",
        ),
        (
            lambda d: d["plans"]["plus"]["prices"].pop("year"),
            "pricebook: plans.plus.prices: missing the year price",
        ),
        (
            lambda d: d["seat_addons"]["data_residency"].update(plans=["enterprise", "pro"]),
            "pricebook: seat_addons.data_residency.plans: unknown plan 'pro'",
        ),
        (
            lambda d: d["usage_addons"]["api_calls"]["tiers"][1].update(up_to=500),
            "pricebook: usage_addons.api_calls.tiers[1].up_to: "
            "must be above the previous tier's 1000000",
        ),
        (
            lambda d: d["usage_addons"]["api_calls"]["tiers"][2].update(up_to=20_000_000),
            "pricebook: usage_addons.api_calls.tiers[2].up_to: "
            "the last tier must be unlimited (null)",
        ),
        (
            lambda d: d["usage_addons"]["sms"]["unit_price"].update(EUR="0.00701"),
            "pricebook: usage_addons.sms.unit_price.EUR: at most 4 decimal places",
        ),
        (
            lambda d: d["usage_addons"]["storage"].pop("block_size"),
            "pricebook: usage_addons.storage: the block model needs block_size",
        ),
        (
            lambda d: d["plans"]["plus"].update(seat={"min": 1}),
            "pricebook: plans.plus.seat: Extra inputs are not permitted",
        ),
        (
            lambda d: d["plans"]["enterprise"]["seats"].update(max=10),
            "pricebook: plans.enterprise.seats.max: is below the minimum of 25",
        ),
        (
            lambda d: d["seat_addons"]["data_residency"].update(requires=["firewall"]),
            "pricebook: seat_addons.data_residency.requires: 'firewall' is not another seat add-on",
        ),
        (
            lambda d: d["markets"].update(CHF=["CH"]),
            "pricebook: markets.CHF: not a currency of the price book",
        ),
        (
            lambda d: d["markets"]["EUR"].append(False),  # NO unquoted: YAML's false
            "pricebook: markets.EUR.31: Input should be a valid string",
        ),
        (
            lambda d: d.update(currencies=["USD", "XYZ"]),
            "pricebook: currencies[1]: currency 'XYZ' is not an ISO 4217 code",
        ),
    ],
)
def test_a_bad_entry_is_named(data: dict[str, Any], edit: Any, message: str) -> None:
    edit(data)
    with pytest.raises(PriceBookError) as raised:
        parse_pricebook(data)
    assert message in str(raised.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PriceBookError, match="cannot read"):
        read_pricebook(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("plans: [unclosed")
    with pytest.raises(PriceBookError, match="is not valid YAML"):
        read_pricebook(broken)
