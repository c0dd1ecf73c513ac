"""The append-only audit log: who did what to which record, before and after, why, and when.

The store offers only :func:`record` and :func:`history`; database triggers
refuse UPDATE and DELETE on the table, so the log survives any other code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.ledger.bulk import insert_rows
from activities.ledger.models import AuditEntry


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """Append one entry. ``actor`` is ``slack:<user>``, ``workflow:<id>``, ``cli:<user>``..."""
    entry = AuditEntry(
        **values(
            at=at,
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            before=before,
            after=after,
            reason=reason,
        )
    )
    session.add(entry)
    return entry


def values(
    *,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """One entry's columns, for :func:`append` (or :func:`record`)."""
    if not actor.strip():
        raise ValueError("audit actor must name who acted")
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "before": _jsonable(before),
        "after": _jsonable(after),
        "reason": reason,
    }


def append(session: Session, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append many entries (built by :func:`values`) with one bulk insert: a bill run's batch."""
    insert_rows(session, AuditEntry, entries)


def history(session: Session, subject_type: str, subject_id: str | int) -> Sequence[AuditEntry]:
    """Every entry about one record, oldest first."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == str(subject_id))
        .order_by(AuditEntry.id)
    )
    return session.scalars(query).all()


def _jsonable(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Decimals and dates as strings so the JSON column keeps them exact."""
    if values is None:
        return None
    return {key: _plain(value) for key, value in values.items()}


#: Values JSON keeps as they are, checked first: most of an entry (ids, numbers, outcomes).
_AS_THEY_ARE = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _AS_THEY_ARE:
        return value
    if kind is datetime:
        return value.isoformat()
    if isinstance(value, Decimal | date | datetime):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
