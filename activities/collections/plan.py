"""Where an account stands in its cadence and what comes next: pure decisions for the workflow.

A cadence counts days from the *cycle*: the oldest due date among the
account's collectible invoices. The workflow keeps a :class:`Progress`
(steps done in the cycle) and asks this module what the next step is and
when it is due. Catching up never floods the customer: when several
reminder emails are due at once only the latest is sent (see
:func:`enter_cycle` and :func:`skip_due`); escalations, suspensions and
write-off reviews are never skipped.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from activities.collections.cadence import Cadence, Step
from activities.collections.facts import AccountSnapshot, PromiseFact
from activities.collections.send_window import at_local, local_today, next_send_time


class Catch(StrEnum):
    """What to do with steps already due when the cadence (re)starts counting."""

    #: First start, or the end of a pause: the latest due reminder and every due action.
    LATEST = "latest"
    #: After a promise to pay: the missed-commitment email replaced the reminders.
    ACTIONS_ONLY = "actions_only"
    #: The cycle moved (the oldest invoice was paid or disputed): count afresh from the new
    #: date; whatever is already due under it is not sent.
    NOTHING = "nothing"


class Progress(BaseModel):
    """The cadence's position, carried across continue-as-new."""

    cycle: date | None = None
    done: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    #: Steps a person approved in this cycle, not yet taken.
    approved: list[str] = Field(default_factory=list)
    #: The latest draft revision of each step drafted for its approval (the approver saw
    #: that draft; it is what is sent). Kept across cycles: a new request never reuses a
    #: revision, so it never shows a draft stored for an earlier one.
    drafts: dict[str, int] = Field(default_factory=dict)
    #: A broken promise whose missed-commitment email is still to be sent.
    missed_promise: PromiseFact | None = None


def cycle_of(snapshot: AccountSnapshot) -> date | None:
    """The oldest due date the cadence counts from, or ``None`` when nothing is to be collected.

    An invoice counts once it is due within the cadence's lead time (the
    courtesy reminder goes out before the due date).
    """
    today = local_today(snapshot.as_of, snapshot.timezone)
    horizon = today + timedelta(days=snapshot.cadence.lead_days)
    due = [i.due_date for i in snapshot.collectible if i.due_date <= horizon]
    return min(due) if due else None


def step_date(step: Step, cycle: date) -> date:
    return cycle + timedelta(days=step.offset_days)


def enter_cycle(
    cadence: Cadence, progress: Progress, cycle: date, today: date, catch: Catch
) -> Progress:
    """Progress for counting from ``cycle``; steps already due are handled as ``catch`` says."""
    fresh = Progress(
        cycle=cycle,
        done=list(progress.done) if progress.cycle == cycle else [],
        missed_promise=progress.missed_promise,
        drafts=dict(progress.drafts),
    )
    return skip_due(cadence, fresh, today, catch)


def skip_due(cadence: Cadence, progress: Progress, today: date, catch: Catch) -> Progress:
    """Mark steps due by ``today`` as skipped, keeping those ``catch`` says to still run."""
    assert progress.cycle is not None
    due = [
        s
        for s in cadence.steps
        if step_date(s, progress.cycle) <= today and s.name not in progress.done
    ]
    actions = {s.name for s in due if not s.is_message}
    latest_message = [s.name for s in due if s.is_message][-1:]
    keep: set[str] = {
        Catch.LATEST: actions | set(latest_message),
        Catch.ACTIONS_ONLY: actions,
        Catch.NOTHING: set(),
    }[catch]
    skipped = [s.name for s in due if s.name not in keep]
    return progress.model_copy(
        update={"done": [*progress.done, *skipped], "skipped": [*progress.skipped, *skipped]}
    )


def next_step(cadence: Cadence, progress: Progress) -> Step | None:
    """The first step of the cadence not yet done in this cycle."""
    return next((s for s in cadence.steps if s.name not in progress.done), None)


def stage(cadence: Cadence, progress: Progress) -> str:
    """The last step taken (or skipped) in the cycle, in the cadence's vocabulary."""
    done = [s.name for s in cadence.steps if s.name in progress.done]
    return done[-1] if done else "not_started"


def step_time(snapshot: AccountSnapshot, step: Step, cycle: date) -> datetime:
    """When the step happens: the window's opening on its day, moved into the send window,
    and never before now."""
    window = snapshot.cadence.window
    nominal = at_local(step_date(step, cycle), window.start, snapshot.timezone)
    return next_send_time(
        max(nominal, snapshot.as_of),
        snapshot.timezone,
        snapshot.country,
        window,
        snapshot.public_holidays,
    )


def send_now_or_next(snapshot: AccountSnapshot) -> datetime:
    """The next moment inside the account's send window (for a message due now)."""
    return next_send_time(
        snapshot.as_of,
        snapshot.timezone,
        snapshot.country,
        snapshot.cadence.window,
        snapshot.public_holidays,
    )


def promise_deadline(promise: PromiseFact, tz: str) -> datetime:
    """The end of the grace period: midnight after ``promised_date + grace_days``, local time."""
    last_day = promise.promised_date + timedelta(days=promise.grace_days)
    return at_local(last_day + timedelta(days=1), time(0, 0), tz)
