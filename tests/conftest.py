"""Shared fixtures: a migrated ledger on SQLite always, and on PostgreSQL when CI provides one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger.db import make_engine, migrate, session_factory

#: Temporal fixtures, and the exit hook every run needs once temporalio's bridge is loaded.
pytest_plugins = ["tests.temporal_fixtures"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
NO_POSTGRES = "TEST_DATABASE_URL is not set: PostgreSQL ledger tests need a server (CI sets it)"


def _postgres_engine(url: str) -> Iterator[Engine]:
    """An engine confined to a fresh schema, dropped afterwards, so runs never collide."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(scoped.render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine on an empty database: SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite"
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    if not TEST_DATABASE_URL:
        pytest.skip(NO_POSTGRES)
    yield from _postgres_engine(TEST_DATABASE_URL)


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """A migrated ledger on each backend."""
    migrate(empty_engine)
    return empty_engine


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def sqlite_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """A migrated SQLite ledger, for tests whose subject is not the database."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.sqlite'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
