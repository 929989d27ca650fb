"""Agents' health: the window's figures, ``GET /agents/health``, /metrics, pruning, and
``triad agents health|check`` against the scripted OpenAI server, on both databases.

Every test here runs with a model configured (``openai-chat:x``) and a recognisable key in
the environment, which must never come out of an answer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from tests.agents.openai_server import (
    ScriptedOpenAIServer,
    http_error,
)
from tests.agents.test_check_contract import agent_of, keeping_the_contract
from tests.fixtures.api import Api
from triadops.cli.agents import RULES_ONLY
from triadops.cli.main import app as cli_app
from triadops.constitution import lifecycle
from triadops.domain.agents import BRANCH_AGENTS, AgentName, AgentReport
from triadops.domain.clock import FakeClock, using
from triadops.ops.agents_health import agents_health, percentile
from triadops.ops.monitor import Monitor
from triadops.runtime import Runtime
from triadops.settings import AgentSettings, Settings
from triadops.storage import agent_calls
from triadops.storage.tables import AgentCallRow

KEY = "sk-test-agents-health-7f3a9c"
MODEL = "openai-chat:x"
NOW = datetime(2031, 5, 6, 12, 0, tzinfo=UTC)
Triad = Callable[..., Result]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The shared settings with a model configured and its key in the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home, database_url=database_url, monitor=False, model=MODEL)


def call(
    agent: AgentName,
    *,
    ago_s: float,
    latency_s: float,
    ok: bool = True,
    error: str | None = None,
    tokens: tuple[int, int] = (10, 5),
    model: str = MODEL,
) -> AgentReport:
    """A call that ended `ago_s` seconds before NOW; `error` only if it failed."""
    return AgentReport(
        agent=agent,
        model=model,
        ok=ok,
        error=None if ok else error or "ModelHTTPError: HTTP 503",
        latency_s=latency_s,
        requests=1,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        at=NOW - timedelta(seconds=ago_s),
    )


async def record(rt: Runtime, reports: list[AgentReport]) -> None:
    """Record `reports` as the branches do, in one committed transaction."""
    async with rt.session() as session:
        for report in reports:
            await agent_calls.record_call(session, report, operation_id=None)
        await lifecycle.commit(session)


def planner_calls() -> list[AgentReport]:
    """Twenty calls in the window (latencies 0.1 to 2.0 s out of order, five failed), the
    newest one ok, and three slow failures two hours back that the window leaves out."""
    inside = [
        call(
            AgentName.PLANNER,
            ago_s=(20 - i) * 60,
            latency_s=((i * 7) % 20 + 1) / 10,
            ok=i % 4 != 1,
            error=f"ModelHTTPError: HTTP 503 from the model's API (call {i})",
        )
        for i in range(1, 21)
    ]
    outside = [
        call(AgentName.PLANNER, ago_s=7200 + i, latency_s=50.0, ok=False, tokens=(900, 100))
        for i in range(3)
    ]
    return [*outside, *inside]


def other_calls() -> list[AgentReport]:
    """The executor: an ok call, then a newer failure; the evaluator: none in the window."""
    return [
        call(AgentName.EXECUTOR, ago_s=120, latency_s=0.4),
        call(
            AgentName.EXECUTOR,
            ago_s=60,
            latency_s=2.5,
            ok=False,
            error="timed out\n after 2.5 s",
            tokens=(0, 0),
        ),
        call(AgentName.EVALUATOR, ago_s=3601, latency_s=1.0),
    ]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (
        50.0,
        95.0,
        100.0,
    )
    assert percentile([0.3], 50) == percentile([0.3], 95) == 0.3
    assert (percentile([1.0, 9.0], 50), percentile([1.0, 9.0], 95)) == (1.0, 9.0)
    assert percentile([1.0, 2.0, 3.0], 1) == 1.0
    with pytest.raises(ValueError):
        percentile([], 50)


async def test_the_window_figures_each_agent(runtime: Runtime) -> None:
    await record(runtime, [*planner_calls(), *other_calls()])
    async with runtime.session(read_only=True) as session:
        found = await agents_health(session, runtime.settings, now=NOW)

    assert (found.window_s, found.checked_at) == (3600.0, NOW)
    planner, executor, evaluator = found.agents
    assert [a.agent for a in found.agents] == list(BRANCH_AGENTS)
    assert {a.model for a in found.agents} == {MODEL}
    assert all(a.configured for a in found.agents)

    assert (planner.calls, planner.errors, planner.error_rate) == (20, 5, 0.25)
    assert planner.latency_p50_s == pytest.approx(1.0)
    assert planner.latency_p95_s == pytest.approx(1.9)
    assert planner.tokens == 20 * 15
    assert planner.answering is True
    assert planner.last_call_at == NOW
    assert planner.last_error == "ModelHTTPError: HTTP 503 from the model's API (call 17)"

    assert (executor.calls, executor.errors, executor.error_rate) == (2, 1, 0.5)
    assert (executor.latency_p50_s, executor.latency_p95_s) == (0.4, 2.5)
    assert (executor.tokens, executor.answering) == (15, False)
    assert executor.last_call_at == NOW - timedelta(seconds=60)
    assert executor.last_error == "timed out after 2.5 s"

    assert (evaluator.calls, evaluator.errors, evaluator.tokens) == (0, 0, 0)
    assert evaluator.answering is None and evaluator.error_rate is None
    assert evaluator.latency_p50_s is None and evaluator.latency_p95_s is None
    assert evaluator.last_call_at is None and evaluator.last_error is None

    # A shorter window reads fewer calls: the newest five minutes' only.
    short = runtime.settings.model_copy(update={"agents": AgentSettings(window_s=300)})
    async with runtime.session(read_only=True) as session:
        recent = await agents_health(session, short, now=NOW)
    assert [a.calls for a in recent.agents] == [6, 2, 0]


async def test_an_agent_the_rules_decide_for_is_not_answering_or_failing(
    runtime: Runtime, tmp_path: Path
) -> None:
    await record(runtime, [*planner_calls(), *other_calls()])
    mixed = Settings(
        home=tmp_path / "other",
        database_url=runtime.settings.database_url,
        model="rules",
        agents=AgentSettings(
            executor="http://127.0.0.1:11434/v1", model_name="llama3", evaluator="anthropic:c"
        ),
    )
    async with runtime.session(read_only=True) as session:
        found = await agents_health(session, mixed, now=NOW)
    planner, executor, evaluator = found.agents
    assert (planner.model, planner.configured, planner.answering) == ("rules", False, None)
    assert planner.calls == 20  # what it did while it had a model still counts
    assert (executor.model, executor.configured, executor.answering) == (
        "llama3 at http://127.0.0.1:11434/v1",
        True,
        False,
    )
    assert (evaluator.model, evaluator.configured, evaluator.answering) == (
        "anthropic:c",
        True,
        None,
    )


async def test_get_agents_health_over_http_names_models_never_keys(api: Api, rt: Runtime) -> None:
    assert os.environ["OPENAI_API_KEY"] == KEY
    await record(rt, [*planner_calls(), *other_calls()])

    with using(FakeClock(NOW)):
        response = await api.get("/agents/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert KEY not in response.text
    assert set(body) == {"window_s", "checked_at", "agents"}
    assert [a["agent"] for a in body["agents"]] == ["planner", "executor", "evaluator"]
    assert {a["model"] for a in body["agents"]} == {MODEL}
    assert set(body["agents"][0]) == {
        "agent",
        "model",
        "configured",
        "answering",
        "calls",
        "errors",
        "error_rate",
        "latency_p50_s",
        "latency_p95_s",
        "tokens",
        "last_call_at",
        "last_error",
    }
    assert body["checked_at"] == "2031-05-06T12:00:00Z"
    planner = body["agents"][0]
    assert (planner["calls"], planner["errors"], planner["error_rate"]) == (20, 5, 0.25)
    assert (planner["latency_p50_s"], planner["answering"]) == (pytest.approx(1.0), True)

    assert (await api.client.get("/agents/health")).status_code == 401
    bad = await api.client.get("/agents/health", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"

    spec = (await api.client.get("/openapi.json")).json()
    operation = spec["paths"]["/agents/health"]["get"]
    assert operation["operationId"] == "read_agents_health"
    assert set(operation["responses"]) == {"200", "401"}
    fields = spec["components"]["schemas"]["AgentHealth"]["properties"]
    assert "nearest rank" in fields["latency_p95_s"]["description"]


def families(text: str) -> dict[str, list[Any]]:
    """Every family's samples by family name; the parser raises on malformed text."""
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


def sample(found: dict[str, list[Any]], family: str, name: str, **labels: str) -> float:
    values = [s.value for s in found[family] if s.name == name and s.labels == labels]
    assert len(values) == 1, (name, labels, found[family])
    return float(values[0])


async def test_metrics_count_calls_tokens_and_time_and_pruning_keeps_the_totals(
    api: Api, rt: Runtime
) -> None:
    empty = families((await api.client.get("/metrics")).text)
    assert empty["triad_agent_calls"] == [] and empty["triad_agent_tokens"] == []

    await record(
        rt,
        [
            call(AgentName.PLANNER, ago_s=30, latency_s=0.25, tokens=(100, 20)),
            call(AgentName.PLANNER, ago_s=20, latency_s=0.5, tokens=(200, 40)),
            call(AgentName.PLANNER, ago_s=10, latency_s=1.0, ok=False, tokens=(50, 0)),
            call(AgentName.EVALUATOR, ago_s=5, latency_s=2.0, model="ollama:llama3"),
        ],
    )

    def check(text: str) -> None:
        found = families(text)
        calls = "triad_agent_calls_total"
        planner = {"agent": "planner", "model": MODEL}
        assert sample(found, "triad_agent_calls", calls, **planner, outcome="ok") == 2
        assert sample(found, "triad_agent_calls", calls, **planner, outcome="failed") == 1
        evaluator = {"agent": "evaluator", "model": "ollama:llama3"}
        assert sample(found, "triad_agent_calls", calls, **evaluator, outcome="ok") == 1
        assert len(found["triad_agent_calls"]) == 3
        tokens = "triad_agent_tokens_total"
        assert sample(found, "triad_agent_tokens", tokens, **planner, kind="input") == 350
        assert sample(found, "triad_agent_tokens", tokens, **planner, kind="output") == 60
        assert sample(found, "triad_agent_tokens", tokens, **evaluator, kind="output") == 5
        latency = "triad_agent_latency_seconds_total"
        assert sample(found, "triad_agent_latency_seconds", latency, **planner) == 1.75
        assert sample(found, "triad_agent_latency_seconds", latency, **evaluator) == 2.0

    response = await api.client.get("/metrics")
    assert KEY not in response.text
    check(response.text)

    async with rt.session() as session:
        assert await agent_calls.prune_calls(session, keep=1) == 3
        await lifecycle.commit(session)
    async with rt.session(read_only=True) as session:
        kept = (await session.execute(select(AgentCallRow.agent))).scalars().all()
    assert kept == ["evaluator"]
    check((await api.client.get("/metrics")).text)


async def test_the_alert_cycle_prunes_all_but_the_newest_calls(runtime: Runtime) -> None:
    await record(
        runtime,
        [call(AgentName.EXECUTOR, ago_s=200 - i, latency_s=i / 100) for i in range(105)],
    )
    keeping = runtime.settings.model_copy(update={"agents": AgentSettings(keep_calls=100)})
    powers = dataclasses.replace(runtime, settings=keeping).powers
    monitor = Monitor(powers, owner="t", collectors=[])
    await monitor.coordinate(NOW)
    async with runtime.session(read_only=True) as session:
        count, oldest = (
            await session.execute(select(func.count(), func.min(AgentCallRow.latency_s)))
        ).one()
        [total] = await agent_calls.totals(session)
    assert (count, oldest) == (100, 0.05)
    assert total.calls == 105
    # Pruning again with nothing past the limit deletes nothing.
    await monitor.coordinate(NOW)
    async with runtime.session(read_only=True) as session:
        assert await session.scalar(select(func.count()).select_from(AgentCallRow)) == 100


# -- the command line, against the scripted OpenAI-compatible server ----------------------


@pytest.fixture
def triad(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Triad:
    """Invoke ``triad`` in process on the fresh database, no triad.toml, no model yet."""
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRIAD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRIAD_DATABASE_URL", database_url)
    monkeypatch.setenv("TRIAD_CONFIG", "")  # no configuration file
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli_app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def scripted(
    openai_server: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> ScriptedOpenAIServer:
    """Every agent consults the scripted server, with a recognisable key."""
    monkeypatch.setenv("TRIAD_MODEL", "openai-chat:scripted")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return openai_server


def health_json(triad: Triad) -> list[dict[str, Any]]:
    result = triad("agents", "health", "--json")
    assert result.exit_code == 0, result.output
    agents: list[dict[str, Any]] = json.loads(result.stdout)["agents"]
    return agents


def test_check_asks_every_agent_once_and_records_the_calls(
    triad: Triad, scripted: ScriptedOpenAIServer
) -> None:
    scripted.responder = keeping_the_contract  # 12 tokens in, 3 out a reply

    result = triad("agents", "check")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "openai-chat:scripted" in line]
    assert [row.split()[1] for row in rows] == ["planner", "executor", "evaluator"]
    assert all(" ok " in row for row in rows)
    # The executor runs its step's tool, then reports: two replies.
    assert ["12/3" in rows[0], "24/6" in rows[1], "12/3" in rows[2]] == [True] * 3
    assert result.stderr == ""
    assert sorted(agent_of(body) for body in scripted.requests) == [
        "evaluator",
        "executor",
        "executor",
        "planner",
    ]
    assert all(h["authorization"] == f"Bearer {KEY}" for h in scripted.headers)
    assert KEY not in result.stdout + result.stderr

    checked = json.loads(triad("agents", "check", "--json").stdout)
    assert checked["ok"] is True
    assert [(c["agent"], c["model"], c["ok"], c["error"]) for c in checked["agents"]] == [
        (name.value, "openai-chat:scripted", True, None) for name in BRANCH_AGENTS
    ]
    assert [(c["input_tokens"], c["output_tokens"]) for c in checked["agents"]] == [
        (12, 3),
        (24, 6),
        (12, 3),
    ]
    assert all(c["latency_s"] > 0 for c in checked["agents"])

    for agent in health_json(triad):
        assert (agent["model"], agent["configured"], agent["answering"]) == (
            "openai-chat:scripted",
            True,
            True,
        )
        tokens = 60 if agent["agent"] == "executor" else 30
        assert (agent["calls"], agent["errors"], agent["tokens"]) == (2, 0, tokens)
        assert agent["latency_p95_s"] > 0 and agent["last_error"] is None
    table = triad("agents", "health")
    assert table.exit_code == 0 and "openai-chat:scripted" in table.stdout


def test_a_model_that_answers_an_http_error_fails_the_check_in_one_line_each(
    triad: Triad, scripted: ScriptedOpenAIServer
) -> None:
    scripted.responder = lambda body: http_error(503)

    result = triad("agents", "check")
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout
    lines = result.stderr.splitlines()
    assert [line.split()[1] for line in lines] == ["planner", "executor", "evaluator"]
    for line in lines:
        assert line.startswith("error: ") and "(openai-chat:scripted)" in line
        assert "HTTP 503" in line
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything and KEY not in everything

    checked = triad("agents", "check", "--json")
    assert checked.exit_code == 1 and checked.stderr == ""
    assert json.loads(checked.stdout)["ok"] is False

    for agent in health_json(triad):
        assert (agent["answering"], agent["calls"], agent["errors"]) == (False, 2, 2)
        assert "HTTP 503" in agent["last_error"] and KEY not in agent["last_error"]


def test_with_the_rules_alone_there_is_nothing_to_check(triad: Triad) -> None:
    result = triad("agents", "check")
    assert (result.exit_code, result.stdout.strip(), result.stderr) == (0, RULES_ONLY, "")
    assert json.loads(triad("agents", "check", "--json").stdout) == {"ok": True, "agents": []}
    assert {a["model"] for a in health_json(triad)} == {"rules"}


@pytest.mark.slow
def test_the_rules_never_load_the_agent_framework(tmp_path: Path) -> None:
    """``triad agents health`` and ``check`` with ``model = rules``, in a fresh interpreter."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from triadops.cli.main import app\n"
        "home = (['ops', 'submit', '--dry-run', '--step', 'noop'],)\n"
        "for args in (*home, ['agents', 'check'], ['agents', 'health', '--json']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "framework = ('pydantic_ai', 'triadops.agents')\n"
        "print(sorted(m for m in sys.modules if m.startswith(framework)))\n"
    )
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("TRIAD_", "OPENAI_"))
    }
    env |= {"TRIAD_HOME": str(tmp_path / "home"), "TRIAD_CONFIG": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
