"""Migrations from empty, drift between models and migrations, and schema-version refusals."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from activities.ledger.db import MIGRATIONS, SchemaError, check_schema, current_revision, migrate
from activities.ledger.models import Base
from activities.ledger.revisions import HEAD, REVISIONS


def test_migrations_build_every_table_from_empty(empty_engine: Engine) -> None:
    with pytest.raises(SchemaError, match="init-db"):
        check_schema(empty_engine)
    migrate(empty_engine)
    check_schema(empty_engine)
    assert current_revision(empty_engine) == HEAD
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrating_twice_changes_nothing(engine: Engine) -> None:
    migrate(engine)
    assert current_revision(engine) == HEAD


def test_revisions_constant_lists_the_migration_scripts_in_order() -> None:
    """`open_ledger` checks a ledger against activities/ledger/revisions.py, not alembic's
    scripts: a migration added or re-chained without updating the constant fails here."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    chain = tuple(script.revision for script in reversed(list(scripts.walk_revisions())))
    assert chain == REVISIONS, f"set REVISIONS in activities/ledger/revisions.py to {chain}"
    assert scripts.get_heads() == [HEAD]


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


def test_a_migration_behind_the_head_asks_for_init_db(engine: Engine) -> None:
    older = REVISIONS[-2]
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :old"), {"old": older})
    with pytest.raises(SchemaError, match=f"at schema version {older}, this code expects {HEAD}"):
        check_schema(engine)
