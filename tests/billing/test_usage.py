"""Usage pricing: included units, blocks, graduated and volume tiers, netting."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from activities.billing.usage import Tier, UsageCharge, UsageError, UsagePrice, price_usage

D = Decimal
MONTH = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))


def charge(price: UsagePrice, units: int, invoiced: int = 0) -> UsageCharge:
    return UsageCharge("api_calls", "API calls", "call", *MONTH, D(units), price, D(invoiced))


def total(price: UsagePrice, units: int, invoiced: int = 0, currency: str = "USD") -> Decimal:
    return sum(
        (line.amount for line in price_usage(charge(price, units, invoiced), currency)), D(0)
    )


def test_graduated_example_from_autumn() -> None:
    """Autumn, "Graduated Pricing": 1,000 requests at $0.01, the next 9,000 at $0.008,
    the rest at $0.005; 15,000 requests cost $107.
    https://docs.useautumn.com/documentation/modelling-pricing/graduated-pricing
    """
    price = UsagePrice(
        "graduated",
        tiers=(Tier(D(1000), D("0.01")), Tier(D(10_000), D("0.008")), Tier(None, D("0.005"))),
    )
    lines = price_usage(charge(price, 15_000), "USD")
    assert [line.amount for line in lines] == [D("10.00"), D("72.00"), D("25.00")]
    assert sum(line.amount for line in lines) == D("107.00")
    assert lines[1].description == "API calls: 9,000 calls in tier 2 (1,001–10,000) at 0.008"


def test_graduated_and_volume_examples_from_zuplo() -> None:
    """Zuplo, "Pricing models": tiers 1-1,000 at $0.10, 1,001-10,000 at $0.05,
    10,001+ at $0.01. 15,000 units cost $600 graduated and $150 by volume.
    https://zuplo.com/docs/articles/monetization/pricing-models
    """
    tiers = (Tier(D(1000), D("0.10")), Tier(D(10_000), D("0.05")), Tier(None, D("0.01")))
    assert total(UsagePrice("graduated", tiers=tiers), 15_000) == D("600.00")
    assert total(UsagePrice("volume", tiers=tiers), 15_000) == D("150.00")


def test_volume_with_flat_fees_example_from_lago() -> None:
    """Lago, "Volume" charge model: 65,000 API calls fall in the 50,001-100,000 tier
    at $0.0006 plus its $10 flat fee: $49.
    https://getlago.com/docs/guide/plans/charges/charge-models/volume
    """
    ten = D("10.00")
    price = UsagePrice(
        "volume",
        tiers=(
            Tier(D(10_000), D("0.0010"), ten),
            Tier(D(50_000), D("0.0008"), ten),
            Tier(D(100_000), D("0.0006"), ten),
            Tier(None, D("0.0004"), ten),
        ),
    )
    lines = price_usage(charge(price, 65_000), "USD")
    assert [(line.description, line.amount) for line in lines] == [
        ("API calls: 65,000 calls at the volume price 0.0006", D("39.00")),
        ("API calls: volume tier flat fee", D("10.00")),
    ]


def test_blocks_example_from_flexprice() -> None:
    """Flexprice, "Tiered" (package size): 4,500 API calls in packages of 1,000 at $1
    are 5 started packages: $5.
    https://docs.flexprice.io/docs/product-catalogue/plans/billing-models/tiered
    """
    price = UsagePrice("block", unit_amount=D("1.00"), block_size=D(1000))
    (line,) = price_usage(charge(price, 4500), "USD")
    assert (line.quantity, line.amount) == (D(5), D("5.00"))
    assert total(price, 5000) == D("5.00")
    assert total(price, 5001) == D("6.00")


def test_included_units_are_free() -> None:
    price = UsagePrice("per_unit", included=D(10_000), unit_amount=D("0.0075"))
    assert price_usage(charge(price, 9_999), "USD") == []
    (line,) = price_usage(charge(price, 12_345), "USD")
    assert (line.quantity, line.amount) == (D(2345), D("17.59"))
    assert line.description == "API calls: 2,345 calls at 0.0075, 10,000 included"
    blocks = UsagePrice("block", included=D(250), unit_amount=D("10.00"), block_size=D(100))
    assert total(blocks, 250) == 0
    assert total(blocks, 251) == D("10.00")


def test_netting_what_was_already_invoiced() -> None:
    graduated = UsagePrice(
        "graduated",
        included=D(100),
        tiers=(Tier(D(1000), D("0.10"), D("5.00")), Tier(None, D("0.05"), D("7.00"))),
    )
    # Invoiced at 600 units (500 billable), now 1,600 (1,500 billable).
    assert total(graduated, 1600, 600) == total(graduated, 1600) - total(graduated, 600)
    assert total(graduated, 1600, 600) == D("50.00") + D("25.00") + D("7.00")
    # Volume: the total crossed into a cheaper tier; the earlier charge is credited back.
    tiers = (Tier(D(1000), D("0.10")), Tier(None, D("0.05")))
    volume = UsagePrice("volume", tiers=tiers)
    lines = price_usage(charge(volume, 1500, 800), "USD")
    assert [line.amount for line in lines] == [D("75.00"), D("-80.00")]
    assert price_usage(charge(volume, 900, 800), "USD")[0].amount == D("10.00")
    blocks = UsagePrice("block", unit_amount=D("3"), block_size=D(10))
    assert total(blocks, 25, 12, "JPY") == D("3")  # blocks 3 - 2


def test_fewer_units_than_invoiced_is_an_error() -> None:
    price = UsagePrice("per_unit", unit_amount=D("0.01"))
    with pytest.raises(UsageError, match="units 900 are fewer than the 1,000 already invoiced"):
        price_usage(charge(price, 900, 1000), "USD")
