"""``triad maintain tasks | run | pause | resume``: locally, and through a real server with
the same output (both databases)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import Triad, data, one_error_line, operation
from tests.fixtures.tasks import task, write_drill
from triadops.cli.main import app
from triadops.settings import Settings

TABLE = json.dumps(
    {
        "seed_tasks": False,
        "tasks": [
            task().model_dump(mode="json"),
            task("nightly", cron="0 3 * * *", timezone="Europe/Paris").model_dump(mode="json"),
        ],
    }
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    write_drill(settings.home)
    return settings


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"TRIAD_MAINTENANCE": TABLE}


@pytest.fixture
def tasked(triad: Triad, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Triad:
    monkeypatch.setenv("TRIAD_MAINTENANCE", TABLE)
    return triad


def test_tasks_run_pause_and_resume_locally(tasked: Triad) -> None:
    listed = data(tasked("maintain", "tasks", "--json"))
    assert [(t["name"], t["state"], t["last_result"]) for t in listed] == [
        ("drill", "active", None),
        ("nightly", "active", None),
    ]
    done = data(tasked("maintain", "run", "drill", "--wait", "--json", "--as", "alice"))
    assert done["status"] == "completed", done["status_reason"]
    shown = operation(tasked, done["operation_id"])
    assert shown["request"]["procedure"] == "drill"
    assert shown["request"]["requested_by"] == "alice"
    drill = data(tasked("maintain", "tasks", "--json"))[0]
    assert drill["last_operation_id"] == done["operation_id"]

    paused = tasked("maintain", "pause", "drill", "--reason", "disk full")
    assert paused.exit_code == 0, paused.output
    assert paused.stdout == "drill: paused\n"
    table = tasked("maintain", "tasks", "--tz", "Europe/Paris")
    assert table.exit_code == 0, table.output
    assert "paused" in table.stdout and "CET" in table.stdout
    resumed = tasked("maintain", "resume", "drill")
    assert resumed.stdout == "drill: active\n", resumed.output
    log = data(tasked("audit", "log", "--operation", "maintenance_task:drill", "--json"))
    assert [e["event"] for e in log] == [
        "maintenance_task_run",
        "maintenance_task_paused",
        "maintenance_task_resumed",
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("run", "nope"), "unknown maintenance task 'nope'"),
        (("pause", "nope", "--reason", "x"), "unknown maintenance task 'nope'"),
        (("resume", "drill"), "already active"),
        (("tasks", "--tz", "Mars/Olympus"), "unknown time zone"),
        (("run", "drill", "--as", "triad:scheduler"), "--as"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tasked: Triad, args: tuple[str, ...], says: str) -> None:
    line = one_error_line(tasked("maintain", *args))
    assert says in line
    assert data(tasked("ops", "list", "--json")) == []


def _run(runner: CliRunner, env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def test_the_same_output_locally_and_through_a_server(
    both: tuple[CliRunner, dict[str, str], dict[str, str]],
) -> None:
    runner, local, remote = both
    local = {**local, "TRIAD_MAINTENANCE": TABLE}
    done = data(_run(runner, remote, "maintain", "run", "drill", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    assert done["request"]["requested_by"] == "ops"
    paused = _run(runner, remote, "maintain", "pause", "nightly", "--reason", "travel")
    assert paused.stdout == "nightly: paused\n", paused.output
    for args in (
        ["maintain", "tasks"],
        ["maintain", "tasks", "--json"],
        ["maintain", "tasks", "--tz", "America/New_York"],
    ):
        here, there = _run(runner, local, *args), _run(runner, remote, *args)
        assert here.exit_code == there.exit_code == 0, (args, here.output, there.output)
        assert here.stdout == there.stdout, args
    missing = _run(runner, remote, "maintain", "run", "nope")
    assert missing.exit_code == 1
    assert "unknown maintenance task 'nope'" in missing.stderr
