"""Migration 0007 on a ledger that already has invoices: what it fills, and what it could not."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from activities.ledger.db import _alembic_config
from activities.ledger.models import Invoice
from tests.documents.kinds import NOW

INSERT_CUSTOMER = (
    "INSERT INTO customers (id, legal_name, country, timezone, currency, payment_terms_days, "
    "address_line1, city, region, postal_code, tax_exempt, po_required, do_not_dun, strategic, "
    "created_at) VALUES (:id, :name, :country, 'UTC', 'EUR', 30, '1 Old Street', 'Amsterdam', "
    "NULL, '1012 AB', false, false, false, false, :now)"
)


def _upgrade(engine: Engine, revision: str) -> None:
    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _invoice(connection: Connection, number: str, customer: str, rate: str, tax: str) -> None:
    """Raw rows as an older billing-ops wrote them (money as SQLite's ten-thousandths)."""
    run = connection.execute
    sqlite = connection.dialect.name == "sqlite"

    def money(amount: str) -> object:
        return int(Decimal(amount) * 10_000) if sqlite else Decimal(amount)

    run(
        text(
            "INSERT INTO invoices (number, customer_id, currency, status, issue_date, due_date, "
            "subtotal, discount_total, tax_total, total, credit_applied, amount_due, balance, "
            "created_at) VALUES (:n, :c, 'EUR', 'open', '2026-10-01', '2026-10-31', :s, :z, :t, "
            ":total, :z, :total, :total, :now)"
        ),
        {
            "n": number,
            "c": customer,
            "s": money("100"),
            "z": money("0"),
            "t": money(tax),
            "total": money(str(100 + Decimal(tax))),
            "now": NOW if not sqlite else NOW.replace(tzinfo=None),
        },
    )
    invoice_id = run(text("SELECT id FROM invoices WHERE number = :n"), {"n": number}).scalar()
    run(
        text(
            "INSERT INTO invoice_lines (invoice_id, position, kind, description, item_code, "
            "quantity, unit_amount, proration_fraction, amount, discount_amount, tax_rate, "
            "tax_amount) VALUES (:i, 1, 'charge', 'Business', 'business', 1, :a, 1, :a, 0, :r, :t)"
        ),
        {
            "i": invoice_id,
            "a": money("100"),
            "r": float(rate) if sqlite else Decimal(rate),
            "t": money(tax),
        },
    )


def test_existing_invoices_are_filled_and_the_gaps_named(
    empty_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _upgrade(empty_engine, "0003")
    with empty_engine.begin() as connection:
        for customer, name, country in (
            ("CUS-NL", "Van der Berg B.V.", "NL"),
            ("CUS-IE", "Dublin Ltd", "IE"),
        ):
            connection.execute(
                text(INSERT_CUSTOMER),
                {"id": customer, "name": name, "country": country, "now": NOW},
            )
        connection.execute(
            text(
                "INSERT INTO tax_ids (customer_id, scheme, value) VALUES "
                "('CUS-NL', 'eu_vat', 'NL000099998B57')"
            )
        )
        _invoice(connection, "INV-OLD-1", "CUS-NL", "0", "0")
        _invoice(connection, "INV-OLD-2", "CUS-IE", "0.23", "23")
    with caplog.at_level("WARNING"):
        _upgrade(empty_engine, "head")
    assert "filled 2 existing invoice(s)" in caplog.text
    with Session(empty_engine) as session:
        reverse = session.query(Invoice).filter_by(number="INV-OLD-1").one()
        standard = session.query(Invoice).filter_by(number="INV-OLD-2").one()
        assert reverse.tax_category == "AE" and reverse.tax_exemption_code == "VATEX-EU-AE"
        assert reverse.lines[0].tax_category == "AE"
        assert reverse.buyer_tax_id == "NL000099998B57" and reverse.locale == "nl_NL"
        assert reverse.billing_address and reverse.billing_address["line1"] == "1 Old Street"
        assert reverse.notes and any("inferred" in gap for gap in reverse.notes["backfill"])
        assert any("not stored" in gap for gap in reverse.notes["backfill"])
        assert standard.tax_category == "S" and standard.lines[0].tax_category == "S"
        assert standard.payment_terms == "Payment due within 30 days of the invoice date."
        assert standard.seller and standard.seller["vat_id"] == "IE6388047V"
