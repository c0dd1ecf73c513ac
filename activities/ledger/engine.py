"""Connecting to the ledger and refusing to run on a schema we do not know: SQLAlchemy Core only.

A read that needs no mapped class (``customer show``: activities/ledger/account_summary.py)
opens the ledger from here without importing the ORM, whose declaration of the mapped
classes is most of a command's start (bench/cli_start.py); activities/ledger/db.py builds
its sessions on the same engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from activities.ledger.revisions import HEAD, REVISIONS

#: How long a writer waits for another one's locks before giving up with "ledger busy".
LOCK_WAIT_SECONDS = 30
#: How long connecting to a PostgreSQL server may take before "cannot reach the ledger".
CONNECT_SECONDS = 10


class SchemaError(RuntimeError):
    """The ledger's schema version is missing, behind, or unknown to this code."""


def make_engine(url: str) -> Engine:
    """An engine for ``url`` that waits at most :data:`LOCK_WAIT_SECONDS` for another writer.

    SQLite gets foreign keys on, its parent folder created, and every transaction
    started with ``BEGIN IMMEDIATE``: the write lock is taken before the first read,
    which is what makes read-then-write safe there (activities/ledger/locks.py).
    A ``?timeout=`` in a SQLite URL overrides the wait.
    """
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if "timeout" not in parsed.query:
            connect_args["timeout"] = LOCK_WAIT_SECONDS
    else:
        connect_args["connect_timeout"] = CONNECT_SECONDS
    engine = create_engine(url, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    else:
        event.listen(engine, "connect", _postgresql_lock_timeout)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's documented recipe: the driver must not open transactions itself,
    # so that the "begin" event below decides how each one starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgresql_lock_timeout(dbapi_connection: Any, _record: Any) -> None:
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{LOCK_WAIT_SECONDS}s'")
    dbapi_connection.autocommit = autocommit


def current_revision(engine: Engine) -> str | None:
    """The ledger's schema version, from the row alembic keeps (None before `init-db`).

    One query instead of alembic's ``MigrationContext``, whose import is about a
    second of every command's start (bench/cli_start.py).
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        versions = list(connection.scalars(text("SELECT version_num FROM alembic_version")))
    if len(versions) > 1:
        raise SchemaError(
            f"the ledger has several schema versions {sorted(versions)}; billing-ops keeps one"
        )
    return versions[0] if versions else None


def refuse_unknown(revision: str | None) -> None:
    if revision is not None and revision not in REVISIONS:
        raise SchemaError(
            f"ledger schema version {revision!r} is unknown to this billing-ops "
            "(written by a newer release?); refusing to touch it"
        )


def check_schema(engine: Engine) -> None:
    """Refuse to start unless the ledger is exactly at the schema version this code expects."""
    revision = current_revision(engine)
    if revision is None:
        raise SchemaError("the ledger has no schema yet: run `billing-ops init-db`")
    refuse_unknown(revision)
    if revision != HEAD:
        raise SchemaError(
            f"the ledger is at schema version {revision}, this code expects {HEAD}: "
            "run `billing-ops init-db` to migrate"
        )


def open_engine(url: str) -> Engine:
    """An engine on an existing ledger whose schema this code knows; refuses anything else."""
    engine = make_engine(url)
    check_schema(engine)
    return engine
