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


def test_package_examples_from_lago() -> None:
    """Lago's package charge model. Its spec, getlago/lago-api
    spec/services/charge_models/package_service_spec.rb (commit 1b1c24a6a6c3): 121 units
    in packages of 10 at 100 cents are 13 packages, 1300; with 10 free units, 111 paid
    units are 12 packages, 1200; with 200 free units, nothing. Its docs, getlago/lago-docs
    docs/guide/05_plans/charges/price-models/package.md (502a9e7850b7): "$5 per 100 units
    and offer the first 100 units ... 201 units would cost $0 + $5 + $5 = $10".
    """
    package = UsagePrice("block", unit_amount=D("1.00"), block_size=D(10))
    (line,) = price_usage(charge(package, 121), "EUR")
    assert (line.quantity, line.amount) == (D(13), D("13.00"))
    free = UsagePrice("block", included=D(10), unit_amount=D("1.00"), block_size=D(10))
    assert total(free, 121, currency="EUR") == D("12.00")
    lots_free = UsagePrice("block", included=D(200), unit_amount=D("1.00"), block_size=D(10))
    assert total(lots_free, 121, currency="EUR") == 0
    docs = UsagePrice("block", included=D(100), unit_amount=D("5.00"), block_size=D(100))
    assert total(docs, 201) == D("10.00")


@pytest.mark.parametrize(
    ("units", "block", "price", "amount"),
    [
        # docs.stripe.com/billing/subscriptions/usage-based/transform-quantities: 10 USD an
        # hour, usage in minutes, divide_by 60 rounded up: 150 minutes are 3 hours, 30 USD.
        (150, 60, "10.00", "30.00"),
        # stripe.com/docs/billing/subscriptions/quantity-transformation: "$10 for every 5
        # users (or portion thereof)": 1, 3 and 5 users $10; 6 and 7 users $20.
        (1, 5, "10.00", "10.00"),
        (3, 5, "10.00", "10.00"),
        (5, 5, "10.00", "10.00"),
        (6, 5, "10.00", "20.00"),
        (7, 5, "10.00", "20.00"),
    ],
)
def test_stripe_transform_quantity_rounded_up(
    units: int, block: int, price: str, amount: str
) -> None:
    package = UsagePrice("block", unit_amount=D(price), block_size=D(block))
    assert total(package, units) == D(amount)


# Kill Bill's tiered blocks (TIER_BLOCK consumable usage in arrears), killbill/killbill
# invoice/src/test/java/org/killbill/billing/invoice/usage/
# TestContiguousIntervalConsumableInArrear.java (commit cb60779c1713): each tier is blocks
# of a size, at most so many blocks, at a price per block (createDefaultTieredBlock(unit,
# size, max, price)). ALL_TIERS prices each tier's own units (graduated), TOP_TIER prices
# every unit in the tier the total reaches (volume).
KB_TIERS = (
    Tier(D(1_000), D("1"), block_size=D(100)),  # blocks of 100, at most 10
    Tier(D(101_000), D("1"), block_size=D(1_000)),  # blocks of 1,000, at most 100
)


def test_kill_bill_tiered_blocks_all_tiers() -> None:
    # testComputeBilledUsageWith_ALL_TIERS: 5,325 units = 1,000 in tier 1 (10 blocks, $10)
    # + 4,325 in tier 2 (5 started blocks of 1,000, $5).
    lines = price_usage(charge(UsagePrice("graduated", tiers=KB_TIERS), 5_325), "USD")
    assert [(line.quantity, line.amount) for line in lines] == [
        (D(10), D("10.00")),
        (D(5), D("5.00")),
    ]
    # testComputeBilledUsageSizeOneWith_ALL_TIERS: blocks of one unit, 10 at 1.5, 100 at
    # 1.0, 1,000 at 0.5: 111 units are 15.0 + 100.0 + 0.5.
    size_one = (
        Tier(D(10), D("1.5"), block_size=D(1)),
        Tier(D(110), D("1.0"), block_size=D(1)),
        Tier(D(1_110), D("0.5"), block_size=D(1)),
    )
    lines = price_usage(charge(UsagePrice("graduated", tiers=size_one), 111), "USD")
    assert [line.amount for line in lines] == [D("15.00"), D("100.00"), D("0.50")]


@pytest.mark.parametrize(
    ("units", "blocks", "amount"),
    [
        (1_000, 10, "10.00"),  # tier 1: 1,000 / 100
        (101_000, 101, "101.00"),  # tier 2: 101 blocks of 1,000
        (101_001, 102, "51.00"),  # tier 3 (blocks of 1,000 at 0.5): 102 started blocks
        # "If we pass the maximum of the last tier, we price all units at the last tier"
        (300_000, 300, "150.00"),
    ],
)
def test_kill_bill_tiered_blocks_top_tier(units: int, blocks: int, amount: str) -> None:
    # testComputeBilledUsageWith_TOP_TIER: a third tier of blocks of 1,000 at 0.5 (its
    # maximum, 100 blocks, is no limit for the top tier: beyond it is priced there too).
    tiers = (*KB_TIERS, Tier(None, D("0.5"), block_size=D(1_000)))
    (line,) = price_usage(charge(UsagePrice("volume", tiers=tiers), units), "USD")
    assert (line.quantity, line.amount) == (D(blocks), D(amount))


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
