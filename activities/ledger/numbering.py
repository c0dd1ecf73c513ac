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
    bump = (
        update(InvoiceSeries)
        .where(InvoiceSeries.series == series)
        .values(next_number=InvoiceSeries.next_number + 1)
        .returning(InvoiceSeries.next_number)
        .execution_options(synchronize_session=False)
    )
    with session.no_autoflush:  # the counter does not depend on pending rows
        bumped = session.execute(bump).scalar_one_or_none()
        if bumped is None:  # the series' first number: two writers may start it at once
            session.execute(_start(session, series))
            bumped = session.execute(bump).scalar_one()
    return f"{series}-{bumped - 1:06d}"


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
