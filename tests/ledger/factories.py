"""Test data written straight through the ORM, for tests whose subject is not invoicing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from activities.ledger.models import Customer, Invoice, InvoiceStatus
from activities.ledger.numbering import next_number
from tests.conftest import NOW


def customer(
    session: Session, customer_id: str = "CUS-1", currency: str = "USD", **extra: object
) -> Customer:
    values: dict[str, object] = {
        "id": customer_id,
        "legal_name": f"{customer_id} Ltd",
        "country": "US",
        "timezone": "America/New_York",
        "currency": currency,
        "payment_terms_days": 30,
        "address_line1": "1 Main St",
        "city": "New York",
        "region": "US-NY",
        "postal_code": "10001",
        "created_at": NOW,
    }
    values.update(extra)
    record = Customer(**values)
    session.add(record)
    session.flush()
    return record


def open_invoice(
    session: Session, customer_id: str, amount: str, due: date, currency: str = "USD"
) -> Invoice:
    total = Decimal(amount)
    invoice = Invoice(
        number=next_number(session, "INV"),
        customer_id=customer_id,
        currency=currency,
        status=InvoiceStatus.OPEN,
        issue_date=due - timedelta(days=30),
        due_date=due,
        subtotal=total,
        discount_total=Decimal(0),
        tax_total=Decimal(0),
        total=total,
        credit_applied=Decimal(0),
        amount_due=total,
        balance=total,
        created_at=NOW,
    )
    session.add(invoice)
    session.flush()
    return invoice
