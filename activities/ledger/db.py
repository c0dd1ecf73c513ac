"""Connecting to the ledger, migrating it, and refusing to run on a schema we do not know."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger import periods  # noqa: F401  (installs the closed-period guard)
from activities.ledger.errors import explain, explain_data

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaError(RuntimeError):
    """The ledger's schema version is missing, behind, or unknown to this code."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on and its parent folder created."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest schema version this code knows."""
    head = ScriptDirectory.from_config(_alembic_config_without_engine()).get_current_head()
    assert head is not None
    return head


def _alembic_config_without_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Bring the ledger to the newest schema version (a no-op when it is already there)."""
    _refuse_unknown_revision(engine)
    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _refuse_unknown_revision(engine: Engine) -> None:
    revision = current_revision(engine)
    if revision is None:
        return
    scripts = ScriptDirectory.from_config(_alembic_config_without_engine())
    if revision not in {script.revision for script in scripts.walk_revisions()}:
        raise SchemaError(
            f"ledger schema version {revision!r} is unknown to this billing-ops "
            "(written by a newer release?); refusing to touch it"
        )


def check_schema(engine: Engine) -> None:
    """Refuse to start unless the ledger is exactly at the schema version this code expects."""
    _refuse_unknown_revision(engine)
    revision = current_revision(engine)
    if revision is None:
        raise SchemaError("the ledger has no schema yet: run `billing-ops init-db`")
    if revision != head_revision():
        raise SchemaError(
            f"the ledger is at schema version {revision}, this code expects {head_revision()}: "
            "run `billing-ops init-db` to migrate"
        )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits together on success and rolls back on any error.

    A constraint violation leaves as a :class:`~activities.ledger.errors.LedgerError`
    that names the rule, with nothing written.
    """
    try:
        with factory() as session, session.begin():
            yield session
    except IntegrityError as error:
        raise explain(error) from error
    except DataError as error:  # a value the column cannot hold: retrying cannot help
        raise explain_data(error) from error


def open_ledger(url: str) -> sessionmaker[Session]:
    """Sessions on an existing ledger whose schema this code knows; refuses anything else."""
    engine = make_engine(url)
    check_schema(engine)
    return session_factory(engine)
