"""``triad agents check`` holds each agent to its real contract, against a scripted model.

A model that answers a bare "are you there?" can still break every real operation: an
executor that calls its step's tool twice is refused and rolled back each time. The check
asks each agent as its branch does and names how a model broke its contract.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.agents.openai_server import (
    Reply,
    ScriptedOpenAIServer,
    Usage,
    final_output,
    system_text,
    text,
    tool_call,
    tool_returns,
)
from triadops.agents import evaluator, executor, planner
from triadops.cli.main import app

KEY = "sk-test-agents-check-51c0"
Triad = Callable[..., Result]
USAGE = Usage(12, 3)

PLANNED = {"approved": True, "risk_level": "low", "findings": []}
REPORTED = {"success": True, "changes_made": ["nothing"], "issues_encountered": []}
JUDGED = {"passed": True, "score": 1.0, "findings": [], "recommendations": []}


def agent_of(body: dict[str, Any]) -> str:
    """Which agent a request comes from, by its instructions."""
    system = system_text(body)
    for name, module in (("planner", planner), ("executor", executor), ("evaluator", evaluator)):
        if module.INSTRUCTIONS.split(".")[0] in system:
            return name
    raise AssertionError(f"a request from no agent: {system[:80]!r}")


def keeping_the_contract(body: dict[str, Any]) -> Reply:
    """A model that answers each agent as it should: the executor runs its step once."""
    agent = agent_of(body)
    if agent == "executor":
        if not tool_returns(body):
            return tool_call("step_0_noop", usage=USAGE)
        return final_output(REPORTED, usage=USAGE)
    return final_output(PLANNED if agent == "planner" else JUDGED, usage=USAGE)


@pytest.fixture
def triad(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Triad:
    """Invoke ``triad`` in process on the fresh database, every agent on the scripted model."""
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRIAD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRIAD_DATABASE_URL", database_url)
    monkeypatch.setenv("TRIAD_CONFIG", "")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def scripted(
    openai_server: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> ScriptedOpenAIServer:
    monkeypatch.setenv("TRIAD_MODEL", "openai-chat:scripted")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return openai_server


def checked(triad: Triad) -> tuple[int, dict[str, str | None]]:
    """Run the check; return its exit code and each agent's error."""
    result = triad("agents", "check", "--json")
    found = json.loads(result.stdout)
    assert found["ok"] is (result.exit_code == 0)
    return result.exit_code, {c["agent"]: c["error"] for c in found["agents"]}


def test_a_model_keeping_every_contract_passes(
    triad: Triad, scripted: ScriptedOpenAIServer
) -> None:
    scripted.responder = keeping_the_contract

    assert checked(triad) == (0, {"planner": None, "executor": None, "evaluator": None})
    executor_requests = [b for b in scripted.requests if agent_of(b) == "executor"]
    assert len(executor_requests) == 2  # the tool call, then the report
    assert [t["function"]["name"] for t in executor_requests[0]["tools"]][:2] == [
        "step_0_noop",
        "step_1_noop",
    ]


def test_an_executor_calling_its_step_a_second_time_fails_the_check(
    triad: Triad, scripted: ScriptedOpenAIServer
) -> None:
    def twice(body: dict[str, Any]) -> Reply:
        if agent_of(body) == "executor" and len(tool_returns(body)) < 2:
            return tool_call("step_0_noop", usage=USAGE)
        return keeping_the_contract(body)

    scripted.responder = twice

    code, errors = checked(triad)

    assert code == 1
    assert errors["planner"] is None and errors["evaluator"] is None
    assert errors["executor"] is not None
    assert errors["executor"].startswith("called step_0_noop a second time: the executive refuses")
    human = triad("agents", "check")
    assert (
        "error: executor (openai-chat:scripted): called step_0_noop a second time" in human.stderr
    )


def test_an_executor_calling_another_step_or_none_fails_the_check(
    triad: Triad, scripted: ScriptedOpenAIServer
) -> None:
    def other_step(body: dict[str, Any]) -> Reply:
        if agent_of(body) == "executor" and not tool_returns(body):
            return tool_call("step_1_noop", usage=USAGE)
        return keeping_the_contract(body)

    scripted.responder = other_step
    assert "called 'step_1_noop' while handed step_0_noop only" in str(
        checked(triad)[1]["executor"]
    )

    def no_step(body: dict[str, Any]) -> Reply:
        if agent_of(body) == "executor":
            return final_output(REPORTED, usage=USAGE)
        return keeping_the_contract(body)

    scripted.responder = no_step
    assert (
        checked(triad)[1]["executor"]
        == "answered without calling step_0_noop: no real step would ever run"
    )


def test_an_evaluator_failing_a_clean_drill_is_named_with_what_it_said(
    triad: Triad, scripted: ScriptedOpenAIServer
) -> None:
    def doubting(body: dict[str, Any]) -> Reply:
        if agent_of(body) == "evaluator":
            failed = {**JUDGED, "passed": False, "findings": ["the noop looked suspicious"]}
            return final_output(failed, usage=USAGE)
        return keeping_the_contract(body)

    scripted.responder = doubting

    code, errors = checked(triad)

    assert code == 1
    assert errors["evaluator"] == (
        "failed a clean drill, so every real operation would be rolled back (validation failed: "
        "evaluator): it said 'the noop looked suspicious'"
    )


def test_a_planner_needing_a_second_reply_breaks_one_structured_answer(
    triad: Triad, scripted: ScriptedOpenAIServer
) -> None:
    def chatty(body: dict[str, Any]) -> Reply:
        if agent_of(body) == "planner" and len(body["messages"]) <= 2:
            return text("Let me think about it.", usage=USAGE)
        return keeping_the_contract(body)

    scripted.responder = chatty

    code, errors = checked(triad)

    assert code == 1
    assert errors["planner"] == "gave its answer in 2 replies, not one structured answer"
