"""usage periods closed before 0023: recorded from the ledger's own history

Revision ID: 0024
Revises: 0023
0023 records each usage period a renewal closes, so that usage arriving late is priced
in that period as it was. Periods closed before it were not recorded, and their late
usage fell back to a window counted from the anchor and plan the subscription has now:
after a plan change it was priced with the new plan's included units and tiers, and
after a change of interval (or a realign) in a window of the new schedule that holds
other months' usage.

This revision records them from what the ledger kept then:

- each billing period a renewal closed is the ``subscription.billed`` audit entry's
  ``before`` (its start and end, exactly as the bill run had them);
- the plan its usage was priced with is the plan the period opened with: the plan of
  the last plan or interval change effective before its start, or, before any, the
  plan the first recorded plan change started from (its audit entry's ``before``);
- a period holding a change that may cut it into usage periods of their own (a change
  of interval, or a plan change or resume under a realigning policy, which a migration
  cannot know) is recorded only as far as the usage lines invoiced for it show its
  pieces (a line's period is one piece exactly). Its other pieces stay unrecorded: the
  fallback counts them from the anchor within the recorded periods around them, which
  gives the piece itself when its neighbours are recorded.

Only subscriptions with a usage add-on are recorded (as the bill run records them), and
a billing period overlapping a period already recorded (closed after 0023) is left as it
is. The counts are logged.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

from activities.ledger.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_CUTTING = ("interval_changed", "plan_changed", "resumed")
_PLAN_SETTING = ("interval_changed", "plan_changed")

_items = sa.table(
    "subscription_items",
    sa.column("subscription_id", sa.String),
    sa.column("item_code", sa.String),
    sa.column("kind", sa.String),
)
_subscriptions = sa.table("subscriptions", sa.column("id", sa.String), sa.column("plan", sa.String))
_audit = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("subject_type", sa.String),
    sa.column("subject_id", sa.String),
    sa.column("before", sa.JSON),
)
_events = sa.table(
    "subscription_events",
    sa.column("id", sa.Integer),
    sa.column("subscription_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("effective_at", UtcDateTime()),
    sa.column("plan", sa.String),
)
_invoices = sa.table(
    "invoices", sa.column("id", sa.Integer), sa.column("subscription_id", sa.String)
)
_lines = sa.table(
    "invoice_lines",
    sa.column("invoice_id", sa.Integer),
    sa.column("item_code", sa.String),
    sa.column("period_start", UtcDateTime()),
    sa.column("period_end", UtcDateTime()),
)
_usage_periods = sa.table(
    "usage_periods",
    sa.column("subscription_id", sa.String),
    sa.column("period_start", UtcDateTime()),
    sa.column("period_end", UtcDateTime()),
    sa.column("plan", sa.String),
)

Window = tuple[datetime, datetime]


def upgrade() -> None:
    """Record the usage periods closed before 0023 (see the module's docstring)."""
    run = op.get_bind().execute
    metered: dict[str, set[str]] = defaultdict(set)
    for subscription_id, code in run(
        sa.select(_items.c.subscription_id, _items.c.item_code).where(
            _items.c.kind == "usage_addon"
        )
    ):
        metered[subscription_id].add(code)
    if not metered:
        return
    current = {
        sid: plan for sid, plan in run(sa.select(_subscriptions.c.id, _subscriptions.c.plan))
    }
    billed: dict[str, list[Window]] = defaultdict(list)
    first_plan: dict[str, str] = {}
    for subscription_id, action, before in run(
        sa.select(_audit.c.subject_id, _audit.c.action, _audit.c.before)
        .where(
            _audit.c.subject_type == "subscription",
            _audit.c.action.in_(("subscription.billed", "subscription.plan_changed")),
        )
        .order_by(_audit.c.id)
    ):
        if subscription_id not in metered or not before:
            continue
        if action == "subscription.billed":
            start, end = before.get("period_start"), before.get("period_end")
            if start and end:
                billed[subscription_id].append(
                    (datetime.fromisoformat(start), datetime.fromisoformat(end))
                )
        elif subscription_id not in first_plan and before.get("plan"):
            first_plan[subscription_id] = before["plan"]
    events: dict[str, list[tuple[datetime, str, str | None]]] = defaultdict(list)
    for subscription_id, kind, at, plan in run(
        sa.select(_events.c.subscription_id, _events.c.kind, _events.c.effective_at, _events.c.plan)
        .where(_events.c.kind.in_(_CUTTING))
        .order_by(_events.c.effective_at, _events.c.id)
    ):
        events[subscription_id].append((at, kind, plan))
    shown: dict[str, set[Window]] = defaultdict(set)
    for subscription_id, code, start, end in run(
        sa.select(
            _invoices.c.subscription_id,
            _lines.c.item_code,
            _lines.c.period_start,
            _lines.c.period_end,
        )
        .join(_invoices, _invoices.c.id == _lines.c.invoice_id)
        .where(_lines.c.period_start.is_not(None), _lines.c.period_end.is_not(None))
    ):
        if code in metered.get(subscription_id, ()):
            shown[subscription_id].add((start, end))
    held: dict[str, list[Window]] = defaultdict(list)
    for subscription_id, start, end in run(
        sa.select(
            _usage_periods.c.subscription_id,
            _usage_periods.c.period_start,
            _usage_periods.c.period_end,
        )
    ):
        held[subscription_id].append((start, end))

    rows: list[dict[str, object]] = []
    partial = 0
    for subscription_id, periods in billed.items():
        history = events.get(subscription_id, [])
        for start, end in periods:
            if any(s < end and start < e for s, e in held.get(subscription_id, ())):
                continue
            plan = next(
                (p for at, kind, p in reversed(history) if at < start and kind in _PLAN_SETTING),
                None,
            ) or first_plan.get(subscription_id, current[subscription_id])
            if any(start <= at < end and kind in _CUTTING for at, kind, _ in history):
                windows = _pieces(
                    [(s, e) for s, e in shown.get(subscription_id, ()) if start <= s and e <= end]
                )
                covered = sum((e - s for s, e in windows), timedelta())
                partial += covered < end - start
            else:
                windows = [(start, end)]
            rows.extend(
                {
                    "subscription_id": subscription_id,
                    "period_start": s,
                    "period_end": e,
                    "plan": plan,
                }
                for s, e in windows
            )
    if rows:
        op.bulk_insert(_usage_periods, rows)
    log.warning(
        "0024: recorded %d usage period(s) closed before 0023; %d billing period(s) cut by "
        "a change recorded only as far as their usage lines show (the rest is windowed "
        "from the anchor)",
        len(rows),
        partial,
    )


def _pieces(windows: list[Window]) -> list[Window]:
    """The windows that overlap no other: a line's period is one piece of its billing
    period, unless an earlier fallback windowed late usage otherwise (then neither is sure)."""
    return [
        window
        for window in sorted(windows)
        if not any(s < window[1] and window[0] < e for s, e in windows if (s, e) != window)
    ]


def downgrade() -> None:
    """Nothing to undo in the schema; the rows recorded stay (0023's downgrade drops them)."""
