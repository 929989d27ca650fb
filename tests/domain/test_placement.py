"""The optimal window: the quietest period inside the allowed windows that fits the work."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from triadops.domain.placement import (
    MIN_DURATION,
    WEEK,
    bucket_start,
    expected_duration,
    first_fit,
    optimal_slot,
    predicted_usage,
    week_bucket,
)
from triadops.domain.windows import MaintenanceWindow, OneOffBlackout

MONDAY = datetime(2026, 11, 30, tzinfo=UTC)
NIGHTLY = MaintenanceWindow(name="nightly", every="daily", start=time(1, 0), duration_min=180)


def busy(at: datetime, hours: range, count: float) -> list[tuple[datetime, float]]:
    """Every 5-minute bucket of `hours` on `at`'s day, with `count` requests."""
    return [(at + timedelta(hours=h, minutes=5 * i), count) for h in hours for i in range(12)]


def test_buckets_are_five_minutes_and_the_week_starts_on_monday_utc() -> None:
    assert bucket_start(datetime(2026, 12, 1, 3, 7, 59, tzinfo=UTC)) == datetime(
        2026, 12, 1, 3, 5, tzinfo=UTC
    )
    assert week_bucket(MONDAY) == 0
    assert week_bucket(MONDAY + timedelta(minutes=4)) == 0
    assert week_bucket(MONDAY - timedelta(minutes=5)) == WEEK - 1


def test_a_future_bucket_is_the_mean_of_the_same_bucket_of_the_week() -> None:
    last_week, two_weeks_ago = MONDAY - timedelta(days=7), MONDAY - timedelta(days=14)
    usage = predicted_usage([(last_week, 30.0), (two_weeks_ago, 10.0), (two_weeks_ago, 2.0)])

    assert usage[0] == 21.0  # (30 + 10 + 2) over the two weeks recorded
    assert predicted_usage([]) == [0.0] * WEEK


def test_the_quiet_night_wins_over_the_busy_one() -> None:
    history = busy(MONDAY - timedelta(days=7), range(24), 50.0)  # last Monday: busy all day
    history += busy(MONDAY - timedelta(days=6), range(1, 4), 3.0)  # last Tuesday night: quiet
    history += busy(MONDAY - timedelta(days=6), range(4, 24), 50.0)
    usage = predicted_usage(history)

    choice = optimal_slot(
        windows=[NIGHTLY],
        blackouts=[],
        usage=usage,
        needed=MIN_DURATION,
        after=MONDAY,
        until=MONDAY + timedelta(days=2),
    )

    assert choice is not None
    assert choice.starts.date() == datetime(2026, 12, 1).date()  # Tuesday, not Monday
    assert choice.window == "nightly"
    assert choice.occurrence == (
        datetime(2026, 12, 1, 1, tzinfo=UTC),
        datetime(2026, 12, 1, 4, tzinfo=UTC),
    )
    assert choice.ends - choice.starts == MIN_DURATION
    assert choice.usage < 50.0


def test_the_slot_is_the_quietest_stretch_inside_the_occurrence() -> None:
    history = busy(MONDAY - timedelta(days=7), range(1, 4), 40.0)
    history = [(at, 2.0 if at.hour == 2 else c) for at, c in history]  # quiet 02:00-03:00

    choice = optimal_slot(
        windows=[NIGHTLY],
        blackouts=[],
        usage=predicted_usage(history),
        needed=timedelta(minutes=45),
        after=MONDAY,
        until=MONDAY + timedelta(hours=12),
    )

    assert choice is not None
    assert choice.starts == datetime(2026, 11, 30, 2, tzinfo=UTC)
    assert choice.ends == datetime(2026, 11, 30, 2, 45, tzinfo=UTC)
    assert choice.usage == 2.0


def test_a_longer_expected_duration_needs_a_longer_slot() -> None:
    short = MaintenanceWindow(name="short", every="daily", start=time(1, 0), duration_min=60)
    usage = [0.0] * WEEK

    assert (
        optimal_slot(
            windows=[short],
            blackouts=[],
            usage=usage,
            needed=timedelta(minutes=50),
            after=MONDAY,
            until=MONDAY + timedelta(days=3),
        )
        is not None
    )
    assert (
        optimal_slot(
            windows=[short],
            blackouts=[],
            usage=usage,
            needed=timedelta(minutes=65),
            after=MONDAY,
            until=MONDAY + timedelta(days=3),
        )
        is None
    )


def test_expected_duration_is_the_p90_of_history_else_the_declared_at_least_30_minutes() -> None:
    assert expected_duration([60.0] * 9 + [7200.0], None) == MIN_DURATION
    assert expected_duration([3600.0] * 8 + [7200.0] * 2, None) == timedelta(hours=2)
    assert expected_duration([], 5400.0) == timedelta(minutes=90)
    assert expected_duration([], None) == MIN_DURATION


def test_blackouts_cut_the_periods_and_a_slot_never_straddles_one() -> None:
    blackout = OneOffBlackout(
        name="freeze",
        starts=datetime(2026, 11, 30, 1, 20, tzinfo=UTC),
        ends=datetime(2026, 11, 30, 3, 0, tzinfo=UTC),
    )
    fit = first_fit(
        windows=[NIGHTLY],
        blackouts=[blackout],
        needed=MIN_DURATION,
        after=MONDAY,
        until=MONDAY + timedelta(days=2),
    )
    # 01:00-01:20 is too short; 03:00-04:00 fits.
    assert fit == (
        datetime(2026, 11, 30, 3, tzinfo=UTC),
        "nightly",
        (datetime(2026, 11, 30, 1, tzinfo=UTC), datetime(2026, 11, 30, 4, tzinfo=UTC)),
    )


def test_dst_zone_window_places_in_local_time() -> None:
    # London falls back on Sunday 25 October 2026: 01:30 local is 00:30 UTC after it.
    london = MaintenanceWindow(
        name="night",
        every="daily",
        start=time(1, 30),
        duration_min=60,
        timezone="Europe/London",
    )
    after = datetime(2026, 10, 24, 12, tzinfo=UTC)
    saturday = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST on the 25th
    fit = first_fit(
        windows=[london],
        blackouts=[],
        needed=MIN_DURATION,
        after=after,
        until=after + timedelta(days=3),
    )
    assert fit is not None and fit[0] == saturday
    fit = first_fit(
        windows=[london],
        blackouts=[],
        needed=MIN_DURATION,
        after=saturday + timedelta(hours=2),
        until=after + timedelta(days=3),
    )
    assert fit is not None and fit[0] == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # GMT
