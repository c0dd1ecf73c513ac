"""The sign-off activity run again while (or after) it already ran: a worker killed after the
commit, or a retry overlapping a slow first attempt. One lock, one audit entry, one checklist,
on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.close.activities import CloseActivities
from activities.close.model import PlanRequest, PrepareRequest, SignOffRecord
from activities.ledger import audit
from activities.ledger.models import ClosedPeriod
from activities.settings import Settings

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_three_overlapping_sign_offs_lock_the_period_once(
    book: sessionmaker[Session], close_settings: Settings
) -> None:
    activities = CloseActivities(book, close_settings)
    plan = activities.plan(PlanRequest(period="2026-11"))
    summary = activities.prepare(
        PrepareRequest(
            workflow_id="close-2026-11", period="2026-11", run=1, requested_by="ana", at=NOW
        )
    )
    record = SignOffRecord(
        workflow_id="close-2026-11",
        period="2026-11",
        summary=summary,
        steps=plan.steps,
        ticks=(),
        by="chen",
        at=NOW,
    )
    with ThreadPoolExecutor(max_workers=3) as pool:
        signed = list(pool.map(lambda _: activities.sign_off(record), range(3)))
    assert activities.sign_off(record) == signed[0]  # and once more, after the fact
    assert all(s == signed[0] for s in signed)
    with book() as session:
        assert session.scalar(select(func.count()).select_from(ClosedPeriod)) == 1
        entries = [
            e for e in audit.history(session, "period", "2026-11") if e.action == "close.signed_off"
        ]
    assert len(entries) == 1
