"""When a routine task falls due: its cron or window occurrences, and what a late tick owes.

Pure: no I/O, the time is always given. A cron schedule is read on wall-clock times in the
task's zone, as the windows are (``domain/windows.py``): a time that falls in a
spring-forward gap runs once, moved on by the gap; a time that falls twice on a fall-back
day runs once, at the first of the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from triadops.domain.windows import MaintenanceWindow, next_slot, zone
from triadops.settings import Settings
from triadops.settings.tasks import TaskSpec

MAX_COUNTED = 10_000
"""At most this many missed occurrences are counted in one catch-up (a per-minute task
down for a week is 10,080); past it the count says "at least"."""
MAX_CATCH_UP_RUNS = 100
TICK = timedelta(microseconds=1)
"""With ``catch_up = "all"``, at most this many runs are submitted in one tick."""


def occurrences(
    task: TaskSpec, windows: list[MaintenanceWindow], after: datetime
) -> Iterator[datetime]:
    """Yield the task's due times strictly after `after`, in order (aware, UTC)."""
    if task.cron is not None:
        yield from _cron_times(task.cron, task.timezone, after)
        return
    window = _window(task, windows)
    horizon = after
    while True:
        found = False
        until = horizon + timedelta(days=40)
        for opens, _ in window.occurrences(horizon, until):
            if opens > after:
                found = True
                yield opens
                after = opens
        if not found and until - horizon > timedelta(days=800):
            return  # a window that cannot open again (the settings refuse one up front)
        horizon = until


def next_due(task: TaskSpec, windows: list[MaintenanceWindow], after: datetime) -> datetime:
    """Return the task's first due time strictly after `after`."""
    return next(occurrences(task, windows, after))


def _cron_times(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    tz = zone(timezone)
    wall = after.astimezone(tz).replace(tzinfo=None)
    it = croniter(expression, wall)
    while True:
        local: datetime = it.get_next(datetime)
        moment = local.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the first of two
        if moment > after:
            after = moment
            yield moment


def _window(task: TaskSpec, windows: list[MaintenanceWindow]) -> MaintenanceWindow:
    for window in windows:
        if window.name == task.window:
            return window
    raise ValueError(f"task {task.name!r} names window {task.window!r}, which is not configured")


@dataclass(frozen=True, slots=True)
class Due:
    """What a task owes at a tick: the runs to submit, the misses, and when it is next due."""

    runs: list[datetime | None]
    """Each run's scheduled time (None: now), oldest first; empty when nothing runs."""
    occurrence: datetime
    """The due time this tick settles (the stored next due it claims)."""
    missed: list[datetime]
    """The occurrences that were not started on time (downtime), oldest first."""
    missed_total: int
    """How many occurrences were missed (``len(missed)`` unless capped at `MAX_COUNTED`)."""
    next_due: datetime


def settle(task: TaskSpec, settings: Settings, *, due: datetime, now: datetime) -> Due:
    """Decide what a task stored as due at `due` owes at `now` (``due <= now``).

    On time (within ``late_after_s`` of its due time, or inside its window's occurrence for
    a window task) it runs once. Otherwise every occurrence from `due` to `now` was missed,
    and its catch-up policy decides: ``skip`` runs none, ``once`` runs one, ``all`` runs one
    per miss within ``catch_up_window_s`` (at most `MAX_CATCH_UP_RUNS`). A window task's
    catch-up waits for the next slot of the windows clear of the blackouts.
    """
    windows = settings.maintenance_windows
    late = timedelta(seconds=settings.maintenance.late_after_s)
    passed = [due]
    for moment in occurrences(task, windows, due):
        if moment > now or len(passed) >= MAX_COUNTED:
            break
        passed.append(moment)
    newest = passed[-1]
    following = next_due(task, windows, max(newest, now))
    if _on_time(task, windows, newest, now, late):
        missed = passed[:-1]
        return Due([_when(task, newest)], due, missed, len(missed), following)
    runs = _catch_up(task, settings, passed, now)
    if runs and task.window is not None and runs[-1] is not None:
        # The catch-up takes the window's next slot: the task is next due after it.
        following = next_due(task, windows, runs[-1])
    return Due(runs, due, passed, len(passed), following)


def _on_time(
    task: TaskSpec,
    windows: list[MaintenanceWindow],
    moment: datetime,
    now: datetime,
    late: timedelta,
) -> bool:
    if task.window is not None:
        # On time while the occurrence it is due for is still open.
        current = _window(task, windows).occurrences(now, now + TICK)
        return any(opens == moment for opens, _ in current)
    return now - moment <= late


def _when(task: TaskSpec, moment: datetime) -> datetime | None:
    """A window task's run is scheduled at its occurrence; a cron task's runs now."""
    return moment if task.window is not None else None


def _catch_up(
    task: TaskSpec, settings: Settings, missed: list[datetime], now: datetime
) -> list[datetime | None]:
    if task.catch_up == "skip":
        return []
    if task.window is not None:
        window = [_window(task, settings.maintenance_windows)]
        slot = next_slot(window, list(settings.maintenance_blackouts), now)
        if slot is None:
            return []
        count = 1 if task.catch_up == "once" else _within(task, missed, now)
        return [slot] * min(count, MAX_CATCH_UP_RUNS)
    if task.catch_up == "once":
        return [None]
    return [None] * min(_within(task, missed, now), MAX_CATCH_UP_RUNS)


def _within(task: TaskSpec, missed: list[datetime], now: datetime) -> int:
    oldest = now - timedelta(seconds=task.catch_up_window_s)
    return max(1, sum(1 for moment in missed if moment >= oldest))
