"""Send windows: business hours on business days in the customer's timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from activities.collections.cadence import SendWindow
from activities.collections.send_window import next_send_time, public_holidays

OFFICE = SendWindow(
    hours="09:00-17:00", days=("mon", "tue", "wed", "thu", "fri"), public_holidays=True
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_inside_the_window_is_now() -> None:
    now = utc(2026, 6, 10, 15, 30)  # Wednesday 11:30 in New York
    assert next_send_time(now, "America/New_York", "US", OFFICE) == now


def test_before_opening_waits_for_nine_local() -> None:
    assert next_send_time(utc(2026, 6, 10, 6), "America/New_York", "US", OFFICE) == utc(
        2026, 6, 10, 13
    )


def test_after_closing_on_friday_waits_for_monday() -> None:
    friday_evening = utc(2026, 6, 12, 22)  # 18:00 EDT
    assert next_send_time(friday_evening, "America/New_York", "US", OFFICE) == utc(2026, 6, 15, 13)


def test_public_holidays_of_the_customers_country_are_skipped() -> None:
    # Friday 3 July 2026 is the observed US Independence Day; Germany works that day.
    morning = utc(2026, 7, 3, 5)
    assert next_send_time(morning, "America/New_York", "US", OFFICE) == utc(2026, 7, 6, 13)
    assert next_send_time(morning, "Europe/Berlin", "DE", OFFICE) == utc(2026, 7, 3, 7)
    no_holidays = OFFICE.model_copy(update={"public_holidays": False})
    assert next_send_time(morning, "America/New_York", "US", no_holidays) == utc(2026, 7, 3, 13)


def test_one_instant_lands_differently_across_timezones() -> None:
    now = utc(2026, 6, 10, 23)  # Wed 19:00 New York, Thu 08:00 Tokyo, Thu 01:00 Berlin
    assert next_send_time(now, "Asia/Tokyo", "JP", OFFICE) == utc(2026, 6, 11, 0)
    assert next_send_time(now, "Europe/Berlin", "DE", OFFICE) == utc(2026, 6, 11, 7)
    assert next_send_time(now, "America/New_York", "US", OFFICE) == utc(2026, 6, 11, 13)
    assert next_send_time(now, "Australia/Sydney", "AU", OFFICE) == utc(2026, 6, 10, 23)


def test_daylight_saving_change_keeps_nine_local() -> None:
    # New York moves to EDT on Sunday 8 March 2026: Friday opens at 14:00 UTC, Monday at 13:00.
    assert next_send_time(utc(2026, 3, 6, 12), "America/New_York", "US", OFFICE) == utc(
        2026, 3, 6, 14
    )
    assert next_send_time(utc(2026, 3, 7, 12), "America/New_York", "US", OFFICE) == utc(
        2026, 3, 9, 13
    )


def test_a_weekend_that_differs_by_country() -> None:
    sunday_to_thursday = SendWindow(
        hours="08:00-16:00", days=("sun", "mon", "tue", "wed", "thu"), public_holidays=False
    )
    friday = utc(2026, 6, 12, 6)
    assert next_send_time(friday, "Asia/Riyadh", "SA", sunday_to_thursday) == utc(2026, 6, 14, 5)


def test_holidays_passed_in_replace_the_lookup() -> None:
    wednesday = utc(2026, 6, 10, 6)
    closed = {date(2026, 6, 10)}
    assert next_send_time(wednesday, "America/New_York", "US", OFFICE, closed) == utc(
        2026, 6, 11, 13
    )
    assert date(2026, 12, 25) in public_holidays("US", (2026,))
    assert public_holidays("XX", (2026,)) == frozenset()  # unknown to the package: weekends only


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"now_utc: .* is naive"):
        next_send_time(datetime(2026, 6, 10, 12), "America/New_York", "US", OFFICE)  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone: 'Mars/Olympus' is not an IANA timezone"):
        next_send_time(utc(2026, 6, 10, 12), "Mars/Olympus", "US", OFFICE)
