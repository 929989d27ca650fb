"""Windows in a time zone: occurrences across daylight-saving changes, and windows that can
never open refused when the settings load, naming the key."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from triadops.domain.windows import (
    DEFAULT_WINDOWS,
    MaintenanceWindow,
    OneOffBlackout,
    clear_of,
    next_slot,
)
from triadops.settings import Settings


def starts(window: MaintenanceWindow, after: datetime, days: int) -> list[datetime]:
    return [o for o, _ in window.occurrences(after, after + timedelta(days=days))]


def test_a_start_in_the_spring_forward_gap_moves_on_by_the_gap() -> None:
    # New York jumps from 02:00 to 03:00 on Sunday 8 March 2026.
    window = MaintenanceWindow(
        name="nightly",
        every="daily",
        start=time(2, 30),
        duration_min=60,
        timezone="America/New_York",
    )
    opened = starts(window, datetime(2026, 3, 7, tzinfo=UTC), 3)

    assert opened == [
        datetime(2026, 3, 7, 7, 30, tzinfo=UTC),  # 02:30 EST
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),  # 03:30 EDT: the gap's hour later
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC),  # 02:30 EDT
    ]


def test_a_start_repeated_on_the_fall_back_day_opens_once() -> None:
    # London repeats 01:00-02:00 on Sunday 25 October 2026.
    window = MaintenanceWindow(
        name="sunday",
        every="weekly",
        weekday=6,
        start=time(1, 30),
        duration_min=30,
        timezone="Europe/London",
    )
    opened = starts(window, datetime(2026, 10, 18, 12, tzinfo=UTC), 14)

    assert opened == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # the first 01:30 (BST), not the second
        datetime(2026, 11, 1, 1, 30, tzinfo=UTC),  # 01:30 GMT
    ]
    assert window.contains(datetime(2026, 10, 25, 0, 45, tzinfo=UTC))
    assert not window.contains(datetime(2026, 10, 25, 1, 45, tzinfo=UTC))


def test_the_defaults_are_the_seeds_in_utc() -> None:
    daily, weekly, monthly = DEFAULT_WINDOWS
    assert (daily.start, daily.duration_min, daily.timezone) == (time(2), 60, "UTC")
    assert (weekly.weekday, weekly.start, weekly.duration_min) == (6, time(1), 180)
    assert (monthly.day, monthly.start, monthly.duration_min) == (1, time(0), 300)
    assert (
        Settings(
            maintenance_windows=[
                {"name": "old", "every": "daily", "start": "02:00", "duration_min": 60}
            ]
        )
        .maintenance_windows[0]
        .timezone
        == "UTC"
    )


@pytest.mark.parametrize(
    ("window", "says"),
    [
        ({"every": "monthly", "day": 31, "months": [4, 6, 9, 11]}, "day 31 never occurs"),
        ({"every": "monthly", "day": 30, "months": [2]}, "day 30 never occurs"),
        ({"every": "daily", "duration_min": 0}, "greater than 0"),
        ({"every": "daily", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"every": "daily", "months": [13]}, "months are 1"),
    ],
)
def test_a_window_that_can_never_open_is_refused_at_load(
    window: dict[str, object], says: str
) -> None:
    given = {"name": "late", "start": "23:00", "duration_min": 60, **window}

    with pytest.raises(ValidationError, match=says) as refused:
        Settings(maintenance_windows=[given])
    assert refused.value.errors()[0]["loc"][:2] == ("maintenance_windows", 0)
    with pytest.raises(ValidationError, match=says) as refused:
        Settings(maintenance_blackouts=[given])
    assert refused.value.errors()[0]["loc"][:2] == ("maintenance_blackouts", 0)


def test_day_29_of_february_opens_in_leap_years_only() -> None:
    window = MaintenanceWindow(
        name="leap", every="monthly", day=29, months=[2], start=time(0), duration_min=60
    )
    assert starts(window, datetime(2027, 1, 1, tzinfo=UTC), 3 * 366) == [
        datetime(2028, 2, 29, tzinfo=UTC)
    ]


def test_the_next_slot_is_in_a_window_and_clear_of_blackouts() -> None:
    tuesday_noon = datetime(2030, 3, 5, 12, tzinfo=UTC)
    hold = OneOffBlackout(
        name="hold",
        starts=datetime(2030, 3, 6, 1, tzinfo=UTC),
        ends=datetime(2030, 3, 6, 2, 30, tzinfo=UTC),
    )
    assert clear_of([hold], datetime(2030, 3, 6, 1, 10, tzinfo=UTC)) == hold.ends
    # Wednesday's daily window opens at 02:00, inside the hold: the slot starts at its end.
    assert next_slot(DEFAULT_WINDOWS, [hold], tuesday_noon) == hold.ends


def test_a_one_off_blackout_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError, match="ends must come after starts"):
        Settings(
            maintenance_blackouts=[
                {"name": "x", "starts": "2030-01-02T00:00:00Z", "ends": "2030-01-01T00:00:00Z"}
            ]
        )
