"""The Core copies of the ledger's tables (activities/ledger/core_tables.py) match the mapped
classes, which are the schema: a column renamed, retyped or made nullable in models.py
fails here, not in a `customer show` at a customer's desk."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Enum
from sqlalchemy.engine import Dialect, make_url

from activities.ledger import account_summary, core_tables
from activities.ledger.models import Base, InvoiceStatus, SubscriptionStatus

DIALECTS = tuple(make_url(url).get_dialect()() for url in ("sqlite://", "postgresql+psycopg://"))


def _stored_as(column: Column[object], dialect: Dialect) -> str:
    """The column's type as the database stores it (an enum is its VARCHAR there)."""
    kind = column.type
    if isinstance(kind, Enum):
        return f"VARCHAR({kind.length})"
    return str(kind.dialect_impl(dialect).compile(dialect=dialect))


@pytest.mark.parametrize("name", sorted(core_tables.metadata.tables))
def test_every_core_column_is_the_mapped_tables_column(name: str) -> None:
    core, mapped = core_tables.metadata.tables[name], Base.metadata.tables[name]
    for column in core.columns:
        assert column.name in mapped.columns, f"{name}.{column.name} is not in models.py"
        orm = mapped.columns[column.name]
        for dialect in DIALECTS:
            assert _stored_as(column, dialect) == _stored_as(orm, dialect), (
                f"{name}.{column.name} on {dialect.name}"
            )
        assert (column.nullable, column.primary_key) == (orm.nullable, orm.primary_key), (
            f"{name}.{column.name}"
        )
        if not isinstance(orm.type, Enum):  # same Python values back (Money, UtcDateTime...)
            assert type(column.type) is type(orm.type), f"{name}.{column.name}"


def test_the_values_the_summary_compares_are_enum_members() -> None:
    assert InvoiceStatus(account_summary.OPEN) is InvoiceStatus.OPEN
    assert SubscriptionStatus(account_summary.CANCELLED) is SubscriptionStatus.CANCELLED
