"""When routine tasks fall due: cron in a zone with DST, windows, and what a late tick owes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest

from tests.fixtures.tasks import task, with_tasks
from triadops.domain.errors import TasksInvalid
from triadops.domain.windows import DEFAULT_WINDOWS
from triadops.ops.maintenance.schedule import next_due, occurrences, settle
from triadops.runtime import catalogues
from triadops.settings import Settings
from triadops.settings.application import MaintenanceSettings
from triadops.settings.tasks import DEFAULT_TASKS, TaskSpec


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def cron(expr: str, tz: str = "UTC", **kw: object) -> TaskSpec:
    return TaskSpec.model_validate(
        {"name": "t", "procedure": "p", "cron": expr, "timezone": tz, **kw}
    )


def settings_with(*tasks: TaskSpec) -> Settings:
    return Settings(maintenance=MaintenanceSettings(seed_tasks=False, tasks=list(tasks)))


def test_a_cron_task_in_london_runs_once_a_day_across_both_dst_changes() -> None:
    task = cron("30 1 * * *", "Europe/London")
    # Spring forward on 2026-03-29: 01:00 GMT jumps to 02:00 BST, so 01:30 does not exist.
    spring = list(islice(occurrences(task, [], utc(2026, 3, 27, 12)), 3))
    assert spring == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    # Fall back on 2026-10-25: 01:30 comes twice (BST, then GMT); it runs at the first.
    autumn = list(islice(occurrences(task, [], utc(2026, 10, 23, 12)), 3))
    assert autumn == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_a_window_task_is_due_at_each_opening_of_its_window() -> None:
    task = TaskSpec(name="w", procedure="p", window="weekly")
    # The weekly window opens on Sundays at 01:00 UTC; 2026-12-06 is a Sunday.
    assert next_due(task, DEFAULT_WINDOWS, utc(2026, 12, 5, 19)) == utc(2026, 12, 6, 1)
    assert next_due(task, DEFAULT_WINDOWS, utc(2026, 12, 6, 1)) == utc(2026, 12, 13, 1)


def test_on_time_a_task_runs_once_and_misses_nothing() -> None:
    task = cron("0 * * * *")
    due = settle(task, settings_with(task), due=utc(2026, 1, 1, 5), now=utc(2026, 1, 1, 5, 0, 20))
    assert due.runs == [None]
    assert due.missed == []
    assert due.next_due == utc(2026, 1, 1, 6)


@pytest.mark.parametrize(("policy", "runs"), [("skip", 0), ("once", 1), ("all", 3)])
def test_after_downtime_the_policy_decides_and_every_miss_is_counted(
    policy: str, runs: int
) -> None:
    task = cron("0 * * * *", catch_up=policy, catch_up_window_s=3 * 3600)
    # Due at 05:00, down until 10:30: 05:00 to 10:00 went by, six occurrences.
    due = settle(task, settings_with(task), due=utc(2026, 1, 1, 5), now=utc(2026, 1, 1, 10, 30))
    assert due.missed_total == 6
    assert due.missed[0] == utc(2026, 1, 1, 5) and due.missed[-1] == utc(2026, 1, 1, 10)
    assert len(due.runs) == runs  # "all": 08:00, 09:00 and 10:00 fall within three hours
    assert due.next_due == utc(2026, 1, 1, 11)


def test_a_window_task_that_missed_its_window_waits_for_the_next_slot() -> None:
    task = TaskSpec(name="w", procedure="p", window="daily")
    # The daily window is 02:00-03:00 UTC; down from before it until 04:00.
    due = settle(task, settings_with(task), due=utc(2026, 1, 1, 2), now=utc(2026, 1, 1, 4))
    assert due.missed == [utc(2026, 1, 1, 2)]
    assert due.runs == [utc(2026, 1, 2, 2)]  # scheduled into tomorrow's window
    assert due.next_due == utc(2026, 1, 3, 2)  # tomorrow's occurrence is the catch-up's


def test_a_window_task_due_inside_its_window_runs_at_the_opening() -> None:
    task = TaskSpec(name="w", procedure="p", window="daily")
    due = settle(task, settings_with(task), due=utc(2026, 1, 1, 2), now=utc(2026, 1, 1, 2, 40))
    assert due.runs == [utc(2026, 1, 1, 2)]
    assert due.missed == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"cron": "61 * * * *"}, "not valid cron syntax"),
        ({"cron": "0 0 31 2 *"}, "never matches"),
        ({"cron": "* * * *"}, "five fields"),
        ({"cron": "0 * * * *", "window": "daily"}, "exactly one"),
        ({}, "exactly one"),
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"cron": "0 * * * *", "catch_up": "twice"}, "catch_up"),
        ({"cron": "0 * * * *", "max_failures": 0}, "max_failures"),
    ],
)
def test_a_task_that_cannot_work_is_refused_at_load(fields: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        TaskSpec.model_validate({"name": "bad", "procedure": "p", **fields})


def test_a_task_naming_a_window_that_is_not_configured_is_refused() -> None:
    with pytest.raises(ValueError, match="names window 'nightly', which is not configured"):
        settings_with(TaskSpec(name="x", procedure="p", window="nightly"))


def test_the_seed_tasks_are_in_their_windows_and_a_user_task_replaces_one() -> None:
    table = MaintenanceSettings().table({"daily", "weekly", "monthly"})
    assert {(t.name, t.window) for t in table} == {
        ("database_optimization", "weekly"),
        ("log_rotation", "daily"),
        ("cache_cleanup", "daily"),
        ("security_updates", "weekly"),
        ("performance_analysis", "monthly"),
        ("backup_database", None),
        ("backup_configurations", None),
        ("backup_logs", None),
        ("backup_system_state", None),
        ("recovery_test", None),
        ("recovery_test_configurations", None),
        ("recovery_test_logs", None),
        ("recovery_test_system_state", None),
        ("backup_prune", None),
    }
    crons = {t.name: t.schedule for t in table if t.cron is not None}
    assert crons == {
        "backup_database": "cron 0 * * * * UTC",
        "backup_configurations": "cron 10 0 * * * UTC",
        "backup_logs": "cron 15 0 * * * UTC",
        "backup_system_state": "cron 20 0 * * * UTC",
        "recovery_test": "cron 30 0 * * * UTC",
        "recovery_test_configurations": "cron 40 0 * * * UTC",
        "recovery_test_logs": "cron 45 0 * * * UTC",
        "recovery_test_system_state": "cron 50 0 * * * UTC",
        "backup_prune": "cron 15 1 * * * UTC",
    }
    assert MaintenanceSettings().table(set()) == [
        t for t in table if t.cron is not None
    ]  # with no windows configured, the backups still run
    mine = TaskSpec(name="log_rotation", procedure="log_rotation", cron="0 4 * * *")
    replaced = MaintenanceSettings(tasks=[mine]).table({"daily", "weekly", "monthly"})
    assert [t for t in replaced if t.name == "log_rotation"] == [mine]
    assert len(replaced) == 14
    assert timedelta(seconds=MaintenanceSettings().every_s) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"procedure": "nope"}, "unknown procedure 'nope'"),
        ({"params": {"colour": "red"}}, "declares no parameter 'colour'"),
        ({"params": {"fail": "sometimes"}}, "procedure_params.fail"),
    ],
)
def test_a_task_the_catalogue_refuses_stops_the_runtime_naming_it(
    tmp_path: Path, fields: dict[str, object], says: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = with_tasks(Settings(home=home), task("mine", **fields))
    with pytest.raises(TasksInvalid, match=rf"maintenance.tasks\[mine\]: .*{says}"):
        catalogues(settings)


def test_the_seed_tasks_all_name_procedures_of_the_catalogue(tmp_path: Path) -> None:
    _, _, procedures = catalogues(Settings(home=tmp_path))
    table = Settings(home=tmp_path).task_table()
    assert len(table) == len(DEFAULT_TASKS) == 14
    assert {t.procedure for t in table} <= set(procedures.names())
