"""When a customer may be contacted: business hours on business days in their timezone.

Pure: the clock is a parameter, timezones come from the system's zoneinfo
database and public holidays from the ``holidays`` package. Workflows call
these functions to set their timers with the holidays handed to them by an
activity (the package reads translation files, which a workflow must not do),
so a holiday-table update never changes a running workflow's past.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from activities.collections.cadence import SendWindow
from activities.holiday_calendar import country_calendar


def zone(tz: str) -> ZoneInfo:
    """The IANA timezone ``tz``; an unknown name is an error that names it."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: {tz!r} is not an IANA timezone (e.g. Europe/Berlin)") from None


@lru_cache(maxsize=512)
def _holidays_of_year(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(country_calendar(country, years=year).keys())
    except NotImplementedError:
        return frozenset()


def public_holidays(country: str, years: Iterable[int]) -> frozenset[date]:
    """The country's national public holidays in ``years``; none for a country the
    package does not know (the window then only skips weekends)."""
    return frozenset().union(*(_holidays_of_year(country, y) for y in years))


def is_business_day(day: date, window: SendWindow, closed: Collection[date]) -> bool:
    if day.isoweekday() not in window.iso_weekdays:
        return False
    return not (window.public_holidays and day in closed)


def local_today(now_utc: datetime, tz: str) -> date:
    """The customer's calendar date at ``now_utc``."""
    _require_aware(now_utc)
    return now_utc.astimezone(zone(tz)).date()


def at_local(day: date, clock: time, tz: str) -> datetime:
    """``clock`` on ``day`` in ``tz``, as UTC (a time in a DST gap moves forward by the gap)."""
    local = datetime.combine(day, clock, tzinfo=zone(tz))
    return local.astimezone(UTC)


def next_send_time(
    now_utc: datetime,
    tz: str,
    country: str,
    window: SendWindow,
    holidays_known: Collection[date] | None = None,
) -> datetime:
    """The first instant at or after ``now_utc`` inside the customer's send window, in UTC.

    Inside the window it is ``now_utc`` itself; otherwise the window's start
    on the next business day (the same day when it has not opened yet).
    ``holidays_known`` replaces the lookup of the country's public holidays
    (workflows pass the ones their activity loaded).
    """
    _require_aware(now_utc)
    local_now = now_utc.astimezone(zone(tz))
    day = local_now.date()
    closed = holidays_known
    if closed is None and window.public_holidays:
        closed = public_holidays(country, (day.year, day.year + 1))
    for _ in range(400):  # a year always holds a business day: days is never empty
        if is_business_day(day, window, closed or ()):
            opens, closes = at_local(day, window.start, tz), at_local(day, window.end, tz)
            if now_utc < closes:
                return max(opens, now_utc.astimezone(UTC))
        day += timedelta(days=1)
    raise ValueError(f"send window {window.hours} on {window.days} never opens in {country}")


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"now_utc: {moment.isoformat()} is naive; pass a timezone-aware time")
