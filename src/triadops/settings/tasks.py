"""The maintenance section: routine tasks on a schedule, and how often the scheduler looks.

The seed's routine tasks are the defaults (``seed_tasks``); ``tasks`` adds the user's own and
replaces a default of the same name (to move it, give it parameters or turn it off). Each
task names a procedure of the catalogue, its parameters, and a schedule: cron syntax read in
a time zone, or the name of a maintenance window. The table is governance: every process
writing one database must apply the same.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from pydantic import BaseModel, Field, JsonValue, field_validator, model_validator

from triadops.domain.windows import zone

TASK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CatchUp = Literal["skip", "once", "all"]


class TaskSpec(BaseModel):
    """One routine task: a procedure with its parameters, on a cron or window schedule."""

    model_config = {"extra": "forbid", "frozen": True}

    name: str
    """The task's name (``triad maintain run NAME``): a-z, 0-9, ``_`` and ``-``."""
    procedure: str
    """A procedure of the catalogue (``triad procedures list``)."""
    params: dict[str, JsonValue] = Field(default_factory=dict)
    """Values of the procedure's declared parameters."""
    cron: str | None = None
    """Five-field cron syntax (minute hour day month weekday), read in ``timezone``."""
    window: str | None = None
    """The name of a maintenance window (``maintenance_windows``): a run at each opening."""
    timezone: str = "UTC"
    """The IANA zone a cron schedule is read in (a window has its own)."""
    catch_up: CatchUp = "once"
    """After downtime: ``skip`` the missed runs, run ``once`` for all of them, or run ``all``
    that fall within ``catch_up_window_s``."""
    catch_up_window_s: float = Field(default=24 * 3600, gt=0)
    """With ``catch_up = "all"``: how far back a missed run is still made up."""
    max_failures: int = Field(default=3, ge=1, le=100)
    """After this many failed runs in a row the task is held until a person resumes it."""
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TASK_NAME.fullmatch(value):
            raise ValueError(
                f"task name {value!r}: use a-z, 0-9, '_' and '-' (1 to 64, starting with a "
                "letter or digit)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> TaskSpec:
        if (self.cron is None) == (self.window is None):
            raise ValueError(f"task {self.name!r}: give exactly one of 'cron' and 'window'")
        if self.cron is not None:
            cron_problem = _cron_problem(self.cron)
            if cron_problem:
                raise ValueError(f"task {self.name!r}: cron {self.cron!r}: {cron_problem}")
        return self

    @property
    def schedule(self) -> str:
        """The schedule as people read it: ``cron 0 3 * * * Europe/Paris``, ``window daily``."""
        if self.cron is not None:
            return f"cron {self.cron} {self.timezone}"
        return f"window {self.window}"


def _cron_problem(expression: str) -> str | None:
    """Say why `expression` is not a usable five-field cron schedule, or None."""
    if len(expression.split()) != 5:
        return "five fields are needed (minute hour day-of-month month day-of-week)"
    try:
        croniter(expression, datetime(2024, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:  # a subclass of the next: catch it first
        return "it never matches a date; it would never run"
    except (CroniterBadCronError, ValueError) as exc:
        return f"not valid cron syntax ({exc})"
    return None


DEFAULT_TASKS = [
    TaskSpec(name="database_optimization", procedure="database_optimization", window="weekly"),
    TaskSpec(name="log_rotation", procedure="log_rotation", window="daily"),
    TaskSpec(name="cache_cleanup", procedure="cache_cleanup", window="daily"),
    TaskSpec(name="security_updates", procedure="security_updates", window="weekly"),
    TaskSpec(name="performance_analysis", procedure="performance_analysis", window="monthly"),
    TaskSpec(name="backup_database", procedure="backup_database", cron="0 * * * *"),
    TaskSpec(name="recovery_test", procedure="recovery_test_database", cron="30 0 * * *"),
    TaskSpec(name="backup_configurations", procedure="backup_configurations", cron="10 0 * * *"),
    TaskSpec(name="backup_logs", procedure="backup_logs", cron="15 0 * * *"),
    TaskSpec(name="backup_system_state", procedure="backup_system_state", cron="20 0 * * *"),
    TaskSpec(
        name="recovery_test_configurations",
        procedure="recovery_test_configurations",
        cron="40 0 * * *",
    ),
    TaskSpec(name="recovery_test_logs", procedure="recovery_test_logs", cron="45 0 * * *"),
    TaskSpec(
        name="recovery_test_system_state",
        procedure="recovery_test_system_state",
        cron="50 0 * * *",
    ),
    TaskSpec(name="backup_prune", procedure="backup_prune", cron="15 1 * * *"),
]
"""The seed's routine tasks: the maintenance ones each in the default window of its cadence;
triad's own database backed up hourly on the hour, whatever the windows (a backup only
reads), and the newest database backup not yet tested recovery-tested daily at 00:30 UTC,
half an hour after a backup started (ample for it to be stored) and away from the hour the
next one takes; configurations, logs and system state backed up daily at 00:10, 00:15 and
00:20 UTC and each recovery-tested at 00:40, 00:45 and 00:50; backups past their type's
retention (``backups.*.keep_days``: 30, 90, 7 and 14 days) pruned daily at 01:15 UTC, so
hourly ones never fill the disk."""


class TaskSettings(BaseModel):
    """The routine task table and the scheduler's cadence (``[maintenance]``'s own keys)."""

    every_s: float = Field(default=30.0, gt=0, le=3600)
    """How often the monitoring leader looks for due tasks and reads back ended runs."""
    late_after_s: float = Field(default=600.0, gt=0)
    """A run not submitted within this many seconds of its due time was missed (downtime);
    for a window task, a run missed its occurrence when the window closed first."""
    seed_tasks: bool = True
    """Include the seed's routine tasks (`DEFAULT_TASKS`)."""
    tasks: list[TaskSpec] = Field(default_factory=list, max_length=10_000)
    """The user's tasks; one named like a seed task replaces it."""

    @field_validator("tasks")
    @classmethod
    def _unique(cls, value: list[TaskSpec]) -> list[TaskSpec]:
        seen: set[str] = set()
        for task in value:
            if task.name in seen:
                raise ValueError(f"task {task.name!r} is declared twice")
            seen.add(task.name)
        return value

    @model_validator(mode="after")
    def _late_after_a_tick(self) -> TaskSettings:
        if self.late_after_s <= self.every_s:
            raise ValueError(
                f"late_after_s ({self.late_after_s}) must exceed every_s ({self.every_s}): "
                "a run on time would read as missed"
            )
        return self

    def table(self, windows: set[str]) -> list[TaskSpec]:
        """Return the tasks in force: the seed's (unless replaced or left out), then the user's.

        A seed task whose window is not among `windows` (the user replaced the default
        windows) is left out: it has no cadence to run at. A user's task naming one is refused
        at load (`window_problems`).
        """
        own = {task.name for task in self.tasks}
        seeded = (
            [
                t
                for t in DEFAULT_TASKS
                if t.name not in own and (t.window is None or t.window in windows)
            ]
            if self.seed_tasks
            else []
        )
        return [*seeded, *self.tasks]


def window_problems(tasks: list[TaskSpec], windows: set[str]) -> list[str]:
    """Name every task whose window is not among `windows`."""
    return [
        f"maintenance.tasks: task {t.name!r} names window {t.window!r}, which is not "
        f"configured (maintenance_windows: {', '.join(sorted(windows)) or 'none'})"
        for t in tasks
        if t.window is not None and t.window not in windows
    ]
