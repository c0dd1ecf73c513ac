"""SLA deadlines in business days: weekends and public holidays skipped, in the company's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.approvals.business_days import add_business_days

NY = "America/New_York"


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Tuesday 10:00 New York (15:00 UTC) + 1 -> Wednesday, same local time.
        (datetime(2026, 11, 3, 15, 0, tzinfo=UTC), 1, datetime(2026, 11, 4, 15, 0, tzinfo=UTC)),
        # Wednesday before Thanksgiving + 2: Thursday 26 is a holiday -> Friday, Monday.
        (datetime(2026, 11, 25, 15, 0, tzinfo=UTC), 2, datetime(2026, 11, 30, 15, 0, tzinfo=UTC)),
        # Friday 20:00 in New York is Saturday 01:00 UTC: counted on New York's calendar,
        # due Monday 20:00 New York.
        (datetime(2026, 11, 7, 1, 0, tzinfo=UTC), 1, datetime(2026, 11, 10, 1, 0, tzinfo=UTC)),
        # Across the end of daylight saving time (1 November 2026): local time is kept.
        (datetime(2026, 10, 30, 14, 0, tzinfo=UTC), 1, datetime(2026, 11, 2, 15, 0, tzinfo=UTC)),
    ],
)
def test_deadlines_skip_weekends_and_holidays(start: datetime, days: int, due: datetime) -> None:
    assert add_business_days(start, days, "US", NY) == due


def test_naive_times_and_zero_days_are_refused() -> None:
    with pytest.raises(ValueError, match=r"start: .* is naive"):
        add_business_days(datetime(2026, 11, 3, 15, 0), 1, "US", NY)  # noqa: DTZ001
    with pytest.raises(ValueError, match="days: must be at least 1"):
        add_business_days(datetime(2026, 11, 3, 15, 0, tzinfo=UTC), 0, "US", NY)
