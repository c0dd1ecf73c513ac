"""Migrations from empty, drift between models and migrations, and schema-version refusals."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from activities.ledger.db import SchemaError, check_schema, current_revision, head_revision, migrate
from activities.ledger.models import Base


def test_migrations_build_every_table_from_empty(empty_engine: Engine) -> None:
    with pytest.raises(SchemaError, match="init-db"):
        check_schema(empty_engine)
    migrate(empty_engine)
    check_schema(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrating_twice_changes_nothing(engine: Engine) -> None:
    migrate(engine)
    assert current_revision(engine) == head_revision()


def test_models_and_migrations_agree(engine: Engine) -> None:
    """A model change without a migration would make this list non-empty."""
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diffs == []


def test_unknown_schema_version_is_refused(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    with pytest.raises(SchemaError, match="unknown to this billing-ops"):
        check_schema(engine)
    with pytest.raises(SchemaError, match="refusing"):
        migrate(engine)
