"""Accounts for collections tests: a customer with a billing contact, a subscription,
an entitlement, and open invoices, written straight through the ORM."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.models import (
    BillingContact,
    ContractType,
    Dispute,
    DisputedInvoice,
    DisputeStatus,
    Entitlement,
    EntitlementStatus,
    Interval,
    Invoice,
    Subscription,
    SubscriptionStatus,
)
from tests.ledger.factories import customer, open_invoice


def new_customer_id() -> str:
    return f"C{uuid.uuid4().hex[:10].upper()}"


def account(
    sessions: sessionmaker[Session],
    now: datetime,
    *,
    customer_id: str | None = None,
    contract: ContractType = ContractType.ANNUAL_INVOICED,
    timezone: str = "America/New_York",
    country: str = "US",
    **extra: object,
) -> str:
    customer_id = customer_id or new_customer_id()
    with sessions.begin() as session:
        customer(session, customer_id, "USD", timezone=timezone, country=country, **extra)
        session.add(
            BillingContact(
                customer_id=customer_id, name="Pat Payables", email="ap@example.com", primary=True
            )
        )
        session.add(
            Subscription(
                id=f"S{customer_id}",
                customer_id=customer_id,
                plan="team",
                interval=Interval.YEAR,
                contract_type=contract,
                status=SubscriptionStatus.ACTIVE,
                currency="USD",
                term_start=now - timedelta(days=200),
                term_end=now + timedelta(days=165),
                billing_anchor=now - timedelta(days=200),
                created_at=now,
            )
        )
        session.flush()
        session.add(
            Entitlement(
                customer_id=customer_id,
                subscription_id=f"S{customer_id}",
                product="team",
                quantity=10,
                status=EntitlementStatus.ACTIVE,
                active_from=now - timedelta(days=200),
                updated_at=now,
            )
        )
    return customer_id


def invoice(sessions: sessionmaker[Session], customer_id: str, amount: str, due: date) -> str:
    with sessions.begin() as session:
        number = open_invoice(session, customer_id, amount, due).number
    assert number is not None
    return number


def dispute(sessions: sessionmaker[Session], customer_id: str, number: str, now: datetime) -> str:
    dispute_id = f"DSP-{uuid.uuid4().hex[:8]}"
    with sessions.begin() as session:
        target = session.query(Invoice).filter_by(number=number).one()
        session.add(
            Dispute(
                id=dispute_id,
                customer_id=customer_id,
                status=DisputeStatus.OPEN,
                claim="seats billed twice",
                opened_by="slack:U1",
                opened_at=now,
            )
        )
        session.flush()
        session.add(DisputedInvoice(dispute_id=dispute_id, invoice_id=target.id))
    return dispute_id


def usd(value: str) -> Decimal:
    return Decimal(value)
