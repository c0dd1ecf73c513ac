"""When the monthly close starts: on the first business day of the month, for the month before.

Pure: the caller passes the instant (the Schedule's firing time, through the
workflow) and the calendar (the approval matrix's holidays).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from activities.approvals.business_days import is_business_day
from activities.ledger.periods import Period


def first_business_day(period: Period, holidays: str) -> date:
    day = period.first_day
    while not is_business_day(day, holidays):
        day += timedelta(days=1)
    return day


def period_to_close(at: datetime, timezone: str, holidays: str) -> Period | None:
    """The month to close when ``at`` falls on the first business day of the next one."""
    if at.tzinfo is None:
        raise ValueError(f"at: {at.isoformat()} is naive; pass a timezone-aware instant")
    today = at.astimezone(ZoneInfo(timezone)).date()
    if today != first_business_day(Period.of(today), holidays):
        return None
    return Period.of(today).previous()
