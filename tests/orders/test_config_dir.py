"""Order validation reads the price book, discount bands and tax table from CONFIG_DIR,
as ``billing-ops preview`` does (tests/cli/test_config_dir.py; issue 15)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from activities.billing.seller import load_seller
from activities.orders.validation import load_order_rules
from activities.paths import CONFIG_DIR
from activities.settings import settings


def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config/ with the Business plan, the default band and New York's rate changed."""
    own = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, own)
    for name, old, new in (
        ("pricebook.yaml", 'month:   {USD: "25.00"', 'month:   {USD: "26.00"'),
        ("discount_bands.yaml", 'default: "10"', 'default: "12"'),
        (
            "tax_rates.yaml",
            'US-NY: {name: Sales tax, rate: "0.04"}',
            'US-NY: {name: Sales tax, rate: "0.05"}',
        ),
    ):
        text = (own / name).read_text(encoding="utf-8")
        assert old in text, f"{name} no longer holds {old!r}: update this test"
        (own / name).write_text(text.replace(old, new), encoding="utf-8")
    monkeypatch.setenv("CONFIG_DIR", str(own))
    settings.cache_clear()
    return own


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    yield
    settings.cache_clear()


def test_order_rules_come_from_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.cache_clear()
    rules = load_order_rules()  # the repository's config/ first, as a process may start
    assert rules.book.plan_price("business", "month", "USD").unit_amount == Decimal("25.00")
    assert rules.bands.default == Decimal("10")
    assert rules.tax.rates["US-NY"].rate == Decimal("0.04")
    own_config(tmp_path, monkeypatch)
    rules = load_order_rules()
    assert rules.book.plan_price("business", "month", "USD").unit_amount == Decimal("26.00")
    assert rules.bands.default == Decimal("12")
    assert rules.tax.rates["US-NY"].rate == Decimal("0.05")


def test_the_seller_comes_from_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.cache_clear()
    assert load_seller().legal_name == "Billing Ops Software Ltd"
    own = own_config(tmp_path, monkeypatch)
    text = (own / "seller.yaml").read_text(encoding="utf-8")
    (own / "seller.yaml").write_text(
        text.replace("legal_name: Billing Ops Software Ltd", "legal_name: Own Seller Ltd"),
        encoding="utf-8",
    )
    assert load_seller().legal_name == "Own Seller Ltd"
