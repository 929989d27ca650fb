"""``triad agents check`` remotely: the server holds its own agents to their contracts.

The model's keys live with the server: a remote check runs there, against the same scripted
OpenAI-compatible model the local check asks, and prints what the local check prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai.models import override_allow_model_requests
from typer.testing import CliRunner, Result

from tests.agents.openai_server import ScriptedOpenAIServer
from tests.agents.test_check_contract import KEY, keeping_the_contract
from tests.cli.conftest import data, one_error_line
from tests.cli.test_remote import _run

pytestmark = pytest.mark.slow

Both = tuple[CliRunner, dict[str, str], dict[str, str]]
MODEL = "openai-chat:scripted"


@pytest.fixture
def scripted() -> Iterator[ScriptedOpenAIServer]:
    """A scripted model keeping every agent's contract, asked by the server and locally."""
    with ScriptedOpenAIServer() as model, override_allow_model_requests(True):
        model.responder = keeping_the_contract
        yield model
        assert not model.script_errors, model.script_errors


@pytest.fixture
def server_env(scripted: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The server consults the scripted model (the same OPENAI_* reach the local CLI)."""
    monkeypatch.setenv("OPENAI_BASE_URL", scripted.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return {"TRIAD_MODEL": MODEL}


def _masked(result: Result) -> dict[str, Any]:
    """The check's JSON without its latencies (the only figures two runs may differ in)."""
    found: dict[str, Any] = data(result)
    for agent in found["agents"]:
        agent["latency_s"] = "-"
    return found


def test_a_remote_agents_check_runs_on_the_server_and_prints_as_locally(
    both: Both, scripted: ScriptedOpenAIServer
) -> None:
    runner, local, remote = both
    local = local | {"TRIAD_MODEL": MODEL}

    here = _run(runner, local, "agents", "check", "--json")
    asked_here = len(scripted.requests)
    there = _run(runner, remote | {"TRIAD_MODEL": ""}, "agents", "check", "--json")

    assert _masked(here) == _masked(there)
    assert [a["agent"] for a in _masked(there)["agents"]] == ["planner", "executor", "evaluator"]
    assert _masked(there)["ok"] is True
    assert len(scripted.requests) == 2 * asked_here  # the server asked the model itself
    shown = _run(runner, remote, "agents", "check")
    assert shown.exit_code == 0
    assert "planner" in shown.stdout and MODEL in shown.stdout and "ok" in shown.stdout
    assert KEY not in shown.output


def test_a_viewer_may_not_spend_the_servers_model_calls(both: Both) -> None:
    runner, local, remote = both
    made = _run(runner, local, "token", "create", "--name", "watch", "--role", "viewer", "--json")

    refused = _run(runner, remote | {"TRIAD_TOKEN": data(made)["token"]}, "agents", "check")

    assert refused.exit_code == 1
    assert "holds none of the roles this needs" in one_error_line(refused)
