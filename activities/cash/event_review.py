"""Stripe events the ledger does not hold: what ``billing-ops stripe events`` and the close list.

A refused event (``ignored`` with an outcome starting "refused:") and a parked one
are money Stripe moved that the ledger has not booked: a refund larger than what is
left to refund because an analyst recorded it by hand, a refund in another currency
than its payment, a payment of a Stripe customer nobody linked. Only a person can
settle them, so they are read here rather than left in the bot's log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from activities.ledger.models import StripeEvent, StripeEventStatus

#: How the ledger words an event it refused (stripe_events._process).
REFUSED_PREFIX = "refused:"


class EventKind(StrEnum):
    """Which events to list: ``parked``, ``refused``, or ``all`` events whatever their status."""

    PARKED = "parked"
    REFUSED = "refused"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class EventFilter:
    """``kind`` ``None`` means the events that need a person: parked and refused.

    ``since`` and ``before`` bound Stripe's ``created`` time (``before`` exclusive)."""

    kind: EventKind | None = None
    customer_id: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    limit: int | None = None


def refused() -> ColumnElement[bool]:
    return and_(
        StripeEvent.status == StripeEventStatus.IGNORED,
        StripeEvent.outcome.startswith(REFUSED_PREFIX, autoescape=True),
    )


def _kind(kind: EventKind | None) -> ColumnElement[bool] | None:
    parked = StripeEvent.status == StripeEventStatus.PARKED
    if kind is EventKind.PARKED:
        return parked
    if kind is EventKind.REFUSED:
        return refused()
    if kind is EventKind.ALL:
        return None
    return or_(parked, refused())


def _where(query: Select[StripeEvent], where: EventFilter) -> Select[StripeEvent]:
    kind = _kind(where.kind)
    if kind is not None:
        query = query.where(kind)
    if where.customer_id is not None:
        query = query.where(StripeEvent.customer_id == where.customer_id)
    if where.since is not None:
        query = query.where(StripeEvent.created_at >= where.since)
    if where.before is not None:
        query = query.where(StripeEvent.created_at < where.before)
    return query


def list_events(session: Session, where: EventFilter) -> Sequence[StripeEvent]:
    """The matching events, newest first (by Stripe's ``created``, then id)."""
    query = _where(select(StripeEvent), where).order_by(
        StripeEvent.created_at.desc(), StripeEvent.id.desc()
    )
    return session.scalars(query.limit(where.limit)).all()


def count_events(session: Session, where: EventFilter) -> int:
    """How many match before the limit (the list's "showing N of M")."""
    found = _where(select(StripeEvent), where).subquery()
    return session.scalar(select(func.count()).select_from(found)) or 0


def status_of(event: StripeEvent) -> str:
    """``refused`` for an event the ledger refused, else its stored status."""
    if event.status is StripeEventStatus.IGNORED and event.outcome.startswith(REFUSED_PREFIX):
        return "refused"
    return event.status.value
