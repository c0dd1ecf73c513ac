"""Slack requests whose work must happen once however often Slack delivers them.

Slack redelivers an event whose ack it did not see in time (``X-Slack-Retry-Num``),
and a request can be replayed; copies may arrive while the first is still at work.
The first copy claims the request's key in the ledger (a row of ``idempotency_keys``)
before it posts anything; a copy that finds the key, or loses the insert to one
arriving at the same instant, does nothing more. A bot killed between the claim and
the post leaves the request unanswered: the person asks again, as a new request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from activities.ledger.models import IdempotencyKey


def claim(session: Session, key: str, action: str, now: datetime) -> bool:
    """True when this copy is the first to claim ``key`` (it does the work)."""
    if session.get(IdempotencyKey, key, populate_existing=True) is not None:
        return False
    try:
        with session.begin_nested():  # a copy arriving together may claim it first
            session.add(IdempotencyKey(key=key, action=action, result={}, created_at=now))
    except IntegrityError:
        return False
    return True
