"""The README's ``triad.toml`` example of a declared command loads and does what it says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from triadops.actions.commands.declared import command_actions
from triadops.actions.registry import ActionRegistry
from triadops.domain.errors import InvalidRequest
from triadops.settings import Settings

README = Path(__file__).parents[3] / "README.md"


def _example() -> dict[str, object]:
    section = README.read_text().split("## Your own commands", 1)[1]
    found = re.search(r"```toml\n(.*?)```", section, re.S)
    assert found, "the section has no toml block"
    loaded: dict[str, object] = tomllib.loads(found.group(1))
    return loaded


def test_the_example_declares_a_deploy_command(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, **_example())  # type: ignore[arg-type]
    registry = ActionRegistry(command_actions(settings))

    params = registry.validate_params("command.deploy", {"tag": "v1.4.2"}, where="steps[0]")
    assert params.model_dump() == {"tag": "v1.4.2", "replicas": 2}
    with pytest.raises(InvalidRequest, match=r"steps\[0\]: params\.tag"):
        registry.validate_params("command.deploy", {"tag": "v1; rm -rf /"}, where="steps[0]")
    with pytest.raises(InvalidRequest, match=r"params\.replicas"):
        registry.validate_params("command.deploy", {"tag": "v1.0.0", "replicas": 21}, where="s")


def test_the_hosts_example_declares_a_command_on_tagged_hosts(tmp_path: Path) -> None:
    section = README.read_text().split("### On hosts over SSH", 1)[1]
    found = re.search(r"```toml\n(.*?)```", section, re.S)
    assert found, "the hosts part has no toml block"
    settings = Settings(home=tmp_path, **tomllib.loads(found.group(1)))
    registry = ActionRegistry(command_actions(settings))

    given = {"slot": "green", "tags": ["web"], "batch_size": 2, "failure_budget": 3}
    params = registry.validate_params("command.restart", given, where="steps[0]")
    assert params.model_dump()["batch_size"] == 2
    action = registry.get("command.restart")
    assert action.selection(params)[1] == ["web1", "web2"]  # type: ignore[attr-defined]
    with pytest.raises(InvalidRequest, match=r"params\.hosts"):
        registry.validate_params("command.restart", {"slot": "blue", "hosts": "web1"}, where="s")
