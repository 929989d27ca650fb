"""``[maintenance.application]`` is checked against the declared commands when it loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from triadops.ops.maintenance.application import application_fields, undeclared
from triadops.settings import Settings

PULL: dict[str, Any] = {
    "description": "pull",
    "argv": ["git", "pull", "origin", "{branch}"],
    "params": {"branch": {"type": "str", "pattern": "[a-z]+"}},
}
RESTART: dict[str, Any] = {"description": "restart", "argv": ["systemctl", "restart", "app"]}


def settings(tmp_path: Path, application: dict[str, Any]) -> Settings:
    return Settings(
        home=tmp_path,
        commands={"pull": PULL, "restart": RESTART},
        maintenance={"application": application},
    )


@pytest.mark.parametrize(
    ("application", "message"),
    [
        (
            {"pull": {"command": "fetch"}},
            "maintenance.application.pull.command: no command 'fetch' is declared",
        ),
        (
            {"pull": {"command": "pull"}},
            "maintenance.application.pull.params: commands.pull needs branch",
        ),
        (
            {"pull": {"command": "pull", "params": {"branch": "main", "force": True}}},
            "maintenance.application.pull.params.force: commands.pull declares no such",
        ),
        (
            {"restart": {"command": "restart", "params": {"unit": "app"}}},
            "maintenance.application.restart.params.unit: commands.restart declares no such",
        ),
        (
            {"pull": {"command": "pull", "params": {"branch": 7}}},
            "maintenance.application.pull.params.branch: expected a string, got int",
        ),
        ({"reboot": {"command": "restart"}}, "maintenance.application.reboot"),
    ],
)
def test_a_call_that_does_not_fit_is_refused_naming_the_key(
    tmp_path: Path, application: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(tmp_path, application)
    assert message in str(refused.value)


def test_declared_calls_become_the_first_steps(tmp_path: Path) -> None:
    both = settings(
        tmp_path,
        {
            "pull": {"command": "pull", "params": {"branch": "main"}},
            "restart": {"command": "restart"},
        },
    )
    fields = application_fields(both)
    assert [s["action"] for s in fields.steps] == [
        "command.pull",
        "command.restart",
        "cache.cleanup",
        "performance.analysis",
        "performance.baseline",
    ]
    assert fields.steps[0]["params"] == {"branch": "main"}
    assert fields.affected_systems == ["application", "cache", "performance_baseline"]
    assert undeclared(both) is None

    only_restart = settings(tmp_path, {"restart": {"command": "restart"}})
    note = undeclared(only_restart)
    assert note is not None and note.startswith("no pull command is declared")
    none = undeclared(Settings(home=tmp_path))
    assert none is not None and none.startswith("no pull or restart command is declared")
