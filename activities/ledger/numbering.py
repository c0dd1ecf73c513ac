"""Gapless document numbers per series (invoices ``INV-000123``, credit notes ``CN-000007``)."""

from __future__ import annotations

from sqlalchemy import Insert, Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from activities.ledger.models import InvoiceSeries


def next_number(session: Session, series: str) -> str:
    """Take the next number of ``series`` inside the caller's transaction.

    The counter row is locked by the UPDATE until the transaction ends, and
    rolls back with it, so two invoices never share a number and an aborted
    invoice leaves no gap.
    """
    return take_numbers(session, series, 1)[0]


_SERIES: Table = InvoiceSeries.__table__  # type: ignore[assignment]
#: The counter moved on by a block of numbers, built once.
_BUMP = (
    update(_SERIES)
    .where(_SERIES.c.series == bindparam("of_series"))
    .values(next_number=_SERIES.c.next_number + bindparam("count"))
    .returning(_SERIES.c.next_number)
)


def take_numbers(session: Session, series: str, count: int) -> list[str]:
    """Take the next ``count`` numbers of ``series``, in order, with one UPDATE ... RETURNING.

    A bill run's batch numbers its invoices as one block: the counter row is locked
    once per batch rather than once per invoice, and the block commits or rolls back
    with the batch, so the series stays gapless and in the order the batch issues.
    """
    if count < 1:
        raise ValueError(f"count: take at least one number, got {count}")
    # On the session's connection, as Core: the counter does not depend on pending ORM
    # rows (no autoflush), and the ORM's UPDATE path cost more than the statement.
    connection = session.connection()
    taking = {"of_series": series, "count": count}
    bumped = connection.execute(_BUMP, taking).scalar_one_or_none()
    if bumped is None:  # the series' first number: two writers may start it at once
        connection.execute(_start(session, series))
        bumped = connection.execute(_BUMP, taking).scalar_one()
    first = bumped - count
    return [f"{series}-{number:06d}" for number in range(first, bumped)]


def _start(session: Session, series: str) -> Insert:
    """Create the series' counter at 1, or leave the one a concurrent writer just created."""
    if session.get_bind().dialect.name == "postgresql":
        return (
            postgresql.insert(InvoiceSeries)
            .values(series=series, next_number=1)
            .on_conflict_do_nothing(index_elements=["series"])
        )
    return (
        sqlite.insert(InvoiceSeries)
        .values(series=series, next_number=1)
        .on_conflict_do_nothing(index_elements=["series"])
    )
