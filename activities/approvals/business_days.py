"""Business days for approval SLAs: weekdays that are not public holidays, in a given timezone.

Pure: the caller passes the instant to count from (a workflow's ``now``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from activities.holiday_calendar import country_calendar


@cache
def _holidays(country: str) -> holidays.HolidayBase:
    return country_calendar(country)


def is_business_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country)


def add_business_days(start: datetime, days: int, country: str, timezone: str) -> datetime:
    """The same local time of day ``days`` business days after ``start``, in UTC.

    Counting happens on the calendar of ``timezone``, so a request made on
    Friday evening in New York is due on Monday evening there (for one day),
    even though it is already Saturday in UTC; a request made on Saturday is
    also due on Monday.
    """
    if start.tzinfo is None:
        raise ValueError(f"start: {start.isoformat()} is naive; pass a timezone-aware instant")
    if days < 1:
        raise ValueError(f"days: must be at least 1, got {days}")
    local = start.astimezone(ZoneInfo(timezone))
    day = local.date()
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_business_day(day, country):
            remaining -= 1
    due = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=local.tzinfo)
    return due.astimezone(UTC)
