"""Money: Decimal amounts in an ISO 4217 currency, rounded by one named rule.

Amounts never pass through ``float``. Rounding happens once, at the invoice
line, to the currency's minor unit (two places for USD, none for JPY, three
for KWD) using :data:`ROUNDING`; totals are sums of rounded lines.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

#: The product's single rounding rule for money (commercial rounding).
ROUNDING = ROUND_HALF_UP

ZERO = Decimal(0)


class CurrencyError(ValueError):
    """An unknown or malformed currency code."""


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(code: str) -> str:
    """Return ``code`` if it is an ISO 4217 currency, else raise naming the rule."""
    if not isinstance(code, str) or code not in _known_currencies():
        raise CurrencyError(f"currency {code!r} is not an ISO 4217 code (e.g. USD, EUR, JPY)")
    return code


@cache
def minor_digits(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (JPY 0, USD 2, KWD 3)."""
    return int(get_currency_precision(check_currency(currency)))


@cache
def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency``: ``Decimal('0.01')`` for USD, ``1`` for JPY."""
    return Decimal(1).scaleb(-minor_digits(currency))


def as_written(amount: Decimal, currency: str) -> Decimal:
    """``amount`` at its currency's precision (``12.5000`` -> ``12.50``, ``¥1250``) when that
    drops no non-zero digit, else unchanged: amounts read back from the ledger's scale read
    like what was written (activities/ledger/models.py on load, account_summary.py)."""
    rounded = amount.quantize(quantum(currency))
    return rounded if rounded == amount else amount


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` to the currency's minor unit by :data:`ROUNDING`."""
    # The rounding passed by position: Decimal.quantize parses a keyword three times slower,
    # and every line's amount, discount and tax comes through here.
    return amount.quantize(quantum(currency), ROUNDING)


def is_rounded(amount: Decimal, currency: str) -> bool:
    """True when ``amount`` carries no digits below the currency's minor unit."""
    return amount == round_money(amount, currency)


def format_money(amount: Decimal, currency: str, locale: str = "en_US") -> str:
    """Human formatting for documents and Slack: ``$1,234.50``, ``¥1,235``, ``€10.00``."""
    return str(format_currency(amount, currency, locale=locale))
