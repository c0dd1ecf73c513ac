"""Many rows into one table in one go: COPY on PostgreSQL, a multi-row INSERT elsewhere.

A bill run's batch writes thousands of invoices, lines and audit entries. A multi-row
INSERT costs the client more than the server (psycopg parses each generated statement
of thousands of placeholders); COPY sends the rows as data. Values go through each
column's own bind processing first (enums as their values, JSON serialised), so what
lands is exactly what the ORM would have written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import JSON, Column, ColumnElement, Dialect, Table, any_, bindparam, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator


def insert_rows(
    session: Session, model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (dicts with the same keys, column names) into ``model``'s table."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(insert(model), list(rows))
        return
    table: Table = model.__table__  # type: ignore[assignment]
    columns = [table.c[name] for name in rows[0]]
    processors = [_processor(column, dialect) for column in columns]
    names = ", ".join(dialect.identifier_preparer.quote(column.name) for column in columns)
    copy_sql = f"COPY {dialect.identifier_preparer.format_table(table)} ({names}) FROM STDIN"
    values = (
        [
            value if process is None else process(value)
            for value, process in zip(row.values(), processors, strict=True)
        ]
        for row in rows
    )
    copy_rows(session, copy_sql, values)


def copy_rows(session: Session, copy_sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """Run ``COPY ... FROM STDIN`` on the session's connection with ``rows``. A refusal
    (a constraint, a trigger) leaves as SQLAlchemy's error, as any statement's does, so
    ``ledger.db.transaction`` explains it.

    psycopg is imported here, on the PostgreSQL path: a SQLite ledger (and every command's
    start, bench/cli_start.py) does without its half second of imports."""
    import psycopg

    raw = cast(psycopg.Connection, session.connection().connection.dbapi_connection)
    try:
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as error:
        raise DBAPIError.instance(copy_sql, None, error, psycopg.Error) from error


def copy_text(session: Session, copy_sql: str, data: str) -> None:
    """Run ``COPY ... FROM STDIN`` on the session's connection with ``data``, text already
    in the statement's format (for lines that arrive as CSV and can go as they are);
    refusals leave as :func:`copy_rows`' do."""
    import psycopg

    raw = cast(psycopg.Connection, session.connection().connection.dbapi_connection)
    try:
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.write(data.encode())
    except psycopg.Error as error:
        raise DBAPIError.instance(copy_sql, None, error, psycopg.Error) from error


def _processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value of the column is written: JSON as JSON (``None`` as JSON null unless the
    column says SQL NULL, as the ORM does), anything else by the column type's own binding."""
    kind = column.type
    if isinstance(kind, JSON):
        return _json_text(none_as_null=kind.none_as_null)
    bind = kind.bind_processor(dialect)
    if bind is None:
        return None
    if isinstance(kind, TypeDecorator) and kind.impl_instance.bind_processor(dialect) is None:
        # The ledger's own types (Money, UtcDateTime) take None themselves: their binding
        # without a second wrapper around it.
        return bind
    return lambda value: None if value is None else bind(value)


def _json_text(*, none_as_null: bool) -> Callable[[Any], Any]:
    """The text the ORM sends (json.dumps), as a plain string: COPY's text format hands it
    to the column's own input, without psycopg's Json wrapper and dumper per value.

    A value met again by identity in the same call (the seller's snapshot, shared by every
    invoice of a bill run's batch) is serialised once: the rows hold their values until
    the call ends, so no identity is reused meanwhile."""
    texts: dict[int, str] = {}

    def text_of(value: Any) -> Any:
        if value is None and none_as_null:
            return None
        key = id(value)
        found = texts.get(key)
        if found is None:
            found = texts[key] = json.dumps(value)
        return found

    return text_of


def insert_with_ids(
    session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert ``rows`` and return their new ids, in order. On PostgreSQL the ids are taken
    from the table's sequence first (one query), then the rows copied with them."""
    if not rows:
        return []
    dialect = session.get_bind().dialect
    table: Table = model.__table__  # type: ignore[assignment]
    if dialect.name != "postgresql":
        statement = insert(model).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.scalars(statement, list(rows)).all())
    ids = list(
        session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": len(rows)},
        ).all()
    )
    insert_rows(session, model, [{"id": id_, **row} for id_, row in zip(ids, rows, strict=True)])
    return ids


def on_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def any_of(column: Any, postgres: bool, name: str = "ids") -> ColumnElement[bool]:
    """``column`` among the list given as the statement's parameter ``name``: on PostgreSQL
    ``= ANY`` of one array (an IN list of a batch's 500 placeholders is parsed again by the
    driver on every call), an expanding IN elsewhere. For statements built once per dialect
    and run with each batch's ids: building a batch's select cost more of the worker's
    time than running it (bench/README.md)."""
    if not postgres:
        return cast(ColumnElement[bool], column.in_(bindparam(name, expanding=True)))
    from sqlalchemy.dialects.postgresql import ARRAY  # 80 ms of imports: PostgreSQL only

    return cast(ColumnElement[bool], column == any_(bindparam(name, type_=ARRAY(column.type))))
