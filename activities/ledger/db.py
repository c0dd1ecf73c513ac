"""Sessions on the ledger and migrating it (connecting and the schema check: engine.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from activities.ledger import periods  # noqa: F401  (installs the closed-period guard)
from activities.ledger.engine import SchemaError as SchemaError
from activities.ledger.engine import check_schema as check_schema
from activities.ledger.engine import current_revision as current_revision
from activities.ledger.engine import make_engine as make_engine
from activities.ledger.engine import open_engine, refuse_unknown
from activities.ledger.errors import from_database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config  # only init-db migrates: no alembic at start

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the ledger to the newest schema version (a no-op when it is already there)."""
    from alembic import command

    refuse_unknown(current_revision(engine))
    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits together on success and rolls back on any error.

    A constraint violation leaves as a :class:`~activities.ledger.errors.LedgerError`
    that names the rule, a lock that waited too long as
    :class:`~activities.ledger.errors.LedgerBusy`, with nothing written.
    """
    try:
        with factory() as session, session.begin():
            yield session
    except DBAPIError as error:
        raise from_database(error) from error


def open_ledger(url: str) -> sessionmaker[Session]:
    """Sessions on an existing ledger whose schema this code knows; refuses anything else."""
    return session_factory(open_engine(url))
