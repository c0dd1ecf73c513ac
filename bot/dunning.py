"""`/billing dunning pause|resume`: hold an account's collections cadence, or let it go on.

The cadence reads the hold from the ledger (``customers.dunning_paused_until``)
each time it reloads the account, which the ``account_changed`` signal makes
it do at once; so a pause is a ledger change, audited, followed by that
signal. A pause ends at the start of its ``until`` day in the customer's
timezone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session

from activities.collections.send_window import at_local, local_today
from activities.ledger import audit
from activities.ledger.customers import get_customer
from activities.ledger.errors import LedgerError

#: A pause without ``until`` lasts two weeks; no pause lasts longer than half a year.
DEFAULT_PAUSE = timedelta(days=14)
LONGEST_PAUSE = timedelta(days=180)


def pause(
    session: Session,
    customer_id: str,
    *,
    until: date | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> datetime:
    """Hold the cadence until the start of ``until`` (customer's time); returns that moment."""
    customer = get_customer(session, customer_id)
    today = local_today(now, customer.timezone)
    day = until or today + DEFAULT_PAUSE
    if day <= today:
        raise LedgerError(f"until: {day} is not after today ({today}) for {customer_id}")
    if day > today + LONGEST_PAUSE:
        raise LedgerError(f"until: {day} is more than {LONGEST_PAUSE.days} days away")
    resume_at = at_local(day, time(0), customer.timezone)
    before = customer.dunning_paused_until
    if before == resume_at:
        return resume_at
    customer.dunning_paused_until = resume_at
    audit.record(
        session,
        at=now,
        actor=actor,
        action="dunning.paused",
        subject_type="customer",
        subject_id=customer_id,
        before={"dunning_paused_until": before},
        after={"dunning_paused_until": resume_at},
        reason=reason,
    )
    return resume_at


def resume(session: Session, customer_id: str, *, actor: str, now: datetime) -> None:
    """Lift the hold; the cadence catches up as after any pause (activities/collections/plan.py)."""
    customer = get_customer(session, customer_id)
    before = customer.dunning_paused_until
    if before is None or before <= now:
        raise LedgerError(f"dunning for {customer_id} is not paused")
    customer.dunning_paused_until = None
    audit.record(
        session,
        at=now,
        actor=actor,
        action="dunning.resumed",
        subject_type="customer",
        subject_id=customer_id,
        before={"dunning_paused_until": before},
        after={"dunning_paused_until": None},
    )
