"""The ledger tables a Core-only read uses, as SQLAlchemy Core ``Table`` objects.

The mapped classes (activities/ledger/models.py) are the schema; declaring them is most of
a command's start (bench/cli_start.py), so ``customer show`` reads through these copies
of the few columns it needs instead (activities/ledger/account_summary.py).
tests/ledger/test_core_tables.py checks every column here against the mapped table of the
same name (type, nullability, key), so the two cannot drift apart. Enum columns are their
VARCHAR here: a read compares and shows their values, which the test checks are members.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table, Text

from activities.ledger.types import Money, UtcDateTime

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("legal_name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_terms_days", Integer, nullable=False),
    Column("do_not_dun", Boolean, nullable=False),
    Column("account_owner", String(200)),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), nullable=False),
    Column("plan", String(64), nullable=False),
    Column("interval", String(32), nullable=False),
    Column("contract_type", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("term_start", UtcDateTime(), nullable=False),
    Column("term_end", UtcDateTime(), nullable=False),
)

subscription_items = Table(
    "subscription_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscription_id", String(32), nullable=False),
    Column("item_code", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(32)),
    Column("customer_id", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("balance", Money(), nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("processor_id", String(100), nullable=False),
    Column("customer_id", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Money(), nullable=False),
    Column("unapplied", Money(), nullable=False),
    Column("refunded", Money(), nullable=False),
    Column("method", String(32), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

credit_notes = Table(
    "credit_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("unapplied", Money(), nullable=False),
)

customer_notes = Table(
    "customer_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("customer_id", String(32), nullable=False),
    Column("author", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)
