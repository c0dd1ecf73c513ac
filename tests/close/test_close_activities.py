"""The close activities called directly: refusals once the period is signed off."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.close.activities import CloseActivities
from activities.close.model import PlanRequest, PrepareRequest
from activities.ledger.db import transaction
from activities.ledger.periods import Period, lock_period
from activities.settings import Settings

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_plan_and_prepare_refuse_a_signed_off_period(
    sqlite_book: sessionmaker[Session], close_settings: Settings
) -> None:
    activities = CloseActivities(sqlite_book, close_settings)
    prepare = PrepareRequest(
        workflow_id="close-2026-11", period="2026-11", run=1, requested_by="ana", at=NOW
    )
    summary = activities.prepare(prepare)
    assert summary.blocking == ()
    with transaction(sqlite_book) as session:
        lock_period(
            session,
            Period(2026, 11),
            timezone=close_settings.company_timezone,
            closing_ar={"USD": Decimal("379.00")},
            signed_off_by="chen",
            signed_off_at=NOW,
            workflow_id="close-2026-11",
        )
    closed = r"period 2026-11 is closed \(signed off by chen on 2026-12-02\)"
    with pytest.raises(ApplicationError, match=closed) as refused:
        activities.plan(PlanRequest(period="2026-11"))
    assert refused.value.non_retryable
    with pytest.raises(ApplicationError, match=closed):
        activities.prepare(prepare)
    # The outputs of the signed run are still there, untouched.
    assert (close_settings.data_dir / "close" / "2026-11" / "close-2026-11.xlsx").exists()


def test_a_bad_period_is_refused_with_the_rule(
    sqlite_book: sessionmaker[Session], close_settings: Settings
) -> None:
    with pytest.raises(ApplicationError, match="YYYY-MM") as refused:
        CloseActivities(sqlite_book, close_settings).plan(PlanRequest(period="2026-13"))
    assert refused.value.type == "ValueError" and refused.value.non_retryable
