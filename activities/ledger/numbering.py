"""Gapless document numbers per series (invoices ``INV-000123``, credit notes ``CN-000007``)."""

from __future__ import annotations

from sqlalchemy import Insert, update
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


def take_numbers(session: Session, series: str, count: int) -> list[str]:
    """Take the next ``count`` numbers of ``series``, in order, with one UPDATE ... RETURNING.

    A bill run's batch numbers its invoices as one block: the counter row is locked
    once per batch rather than once per invoice, and the block commits or rolls back
    with the batch, so the series stays gapless and in the order the batch issues.
    """
    if count < 1:
        raise ValueError(f"count: take at least one number, got {count}")
    bump = (
        update(InvoiceSeries)
        .where(InvoiceSeries.series == series)
        .values(next_number=InvoiceSeries.next_number + count)
        .returning(InvoiceSeries.next_number)
        .execution_options(synchronize_session=False)
    )
    with session.no_autoflush:  # the counter does not depend on pending rows
        bumped = session.execute(bump).scalar_one_or_none()
        if bumped is None:  # the series' first number: two writers may start it at once
            session.execute(_start(session, series))
            bumped = session.execute(bump).scalar_one()
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
