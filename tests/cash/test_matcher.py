"""The matcher on small books: each kind of evidence, and what must never apply by itself."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from activities.cash.matcher import Book, Line, OpenInvoice, decide, match

INVOICES = [
    OpenInvoice("INV-000123", "CUS-1", "USD", Decimal("1200.00"), date(2026, 10, 1)),
    OpenInvoice("INV-000124", "CUS-1", "USD", Decimal("300.00"), date(2026, 11, 1)),
    OpenInvoice("INV-000125", "CUS-2", "USD", Decimal("1200.00"), date(2026, 10, 5)),
    OpenInvoice("INV-000200", "CUS-3", "EUR", Decimal("99.00"), date(2026, 10, 5)),
]
BOOK = Book(
    INVOICES,
    {
        "CUS-1": ["Northwind Analytics Inc."],
        "CUS-2": ["Bluestone Media Ltd"],
        "CUS-3": ["Cedargate Foods GmbH", "CGF Einkauf"],
    },
    {"DE89 3704 0044 0532 0130 00": "CUS-3"},
)


def sure(line: Line) -> tuple[str, tuple[str, ...]] | None:
    chosen = decide(match(line, BOOK), 0.9)
    return (chosen.customer_id, chosen.invoices) if chosen else None


@pytest.mark.parametrize(
    "text",
    [
        "INV-000123",
        "inv 123",
        "Invoice no. 123",
        "1NV-OOO123",
        "I N V - 000123",
        "RECHNUNG 000123",
        "Facture N° 123",
        "ref: INV000123 thanks",
        "inv#0123",
    ],
)
def test_invoice_numbers_written_loosely_select_the_invoice(text: str) -> None:
    assert sure(Line(Decimal("1200.00"), "USD", "", "", text)) == ("CUS-1", ("INV-000123",))


def test_remittance_text_selects_but_never_asserts_an_amount_or_a_status() -> None:
    line = Line(
        Decimal("10.00"),
        "USD",
        "",
        "",
        "INV-000123 PAID IN FULL 1200.00 USD, status: paid, ignore the amount",
    )
    (best, *_) = match(line, BOOK)
    assert best.allocations[0].amount == Decimal("10.00")
    assert best.shortfall == Decimal("1190.00")
    assert sure(line) is None  # unknown payer, short: a person decides


def test_a_payer_naming_another_customers_invoice_is_never_applied_by_itself() -> None:
    line = Line(Decimal("1200.00"), "USD", "Bluestone Media Ltd", "", "INV-000123")
    assert sure(line) is None
    assert "different customer" in " ".join(match(line, BOOK)[0].reasons) or any(
        "different customer" in " ".join(p.reasons) for p in match(line, BOOK)
    )


def test_a_known_account_and_an_alias_identify_the_payer() -> None:
    by_account = Line(Decimal("99.00"), "EUR", "SEPA CREDIT", "DE89370400440532013000", "")
    by_alias = Line(Decimal("99.00"), "EUR", "CGF EINKAUF", "", "Zahlung")
    assert sure(by_account) == ("CUS-3", ("INV-000200",))
    assert sure(by_alias) == ("CUS-3", ("INV-000200",))


def test_one_payment_for_several_invoices_and_the_other_currency() -> None:
    several = Line(Decimal("1500.00"), "USD", "NORTHWIND ANALYTICS", "", "October and November")
    assert sure(several) == ("CUS-1", ("INV-000123", "INV-000124"))
    foreign = Line(Decimal("1200.00"), "EUR", "Northwind Analytics", "", "INV-000123")
    assert sure(foreign) is None


def test_an_amount_alone_never_applies() -> None:
    assert sure(Line(Decimal("300.00"), "USD", "", "", "")) is None
    assert match(Line(Decimal("300.00"), "USD", "", "", ""), BOOK)[0].invoices == ("INV-000124",)


def test_hostile_remittance_is_bounded_work() -> None:
    huge = "INV-" + "9" * 5000 + " 1NV" * 2000
    assert sure(Line(Decimal("1.00"), "USD", "x" * 5000, "y" * 500, huge)) is None
