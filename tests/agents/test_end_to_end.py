"""End to end over real HTTP: `triad serve` consults a real OpenAI-compatible server.

The scripted server stands in for the paid model only; everything else is real: the
provider's own client, the API, the worker, both databases, the CLI that shows the result.
Both ways of reaching an OpenAI model are run: a base URL (Chat Completions, as for Ollama
or vLLM) and ``openai:NAME`` (the Responses API) with ``OPENAI_BASE_URL`` pointing at it.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agents.openai_server import (
    Reply,
    ScriptedOpenAIServer,
    final_output,
    responses_body,
    system_text,
    tool_call,
    user_text,
)
from tests.agents.triad import GOOD_STEP, YES_EVALUATOR, YES_PLANNER
from tests.fixtures.servers import issue_token, triad_serve
from triadops.settings import Settings

pytestmark = pytest.mark.slow
KEY = "sk-test-end-to-end-4d1c9e7a52"


def triad_cli(
    settings: Settings, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triadops.cli.main", *args],
        env={
            **os.environ,
            **env,
            "TRIAD_HOME": str(settings.home),
            "TRIAD_DATABASE_URL": settings.resolved_database_url,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def the_triad(body: dict[str, Any]) -> Reply:
    """Answer as each agent would: the planner and evaluator agree; the executor runs its step."""
    role = system_text(body)
    if "You are the planner" in role:
        return final_output(YES_PLANNER)
    if "You are the evaluator" in role:
        return final_output(YES_EVALUATOR)
    assert "You are the executor" in role, role
    if any(m.get("role") == "tool" for m in body["messages"]):
        return final_output(GOOD_STEP)
    handed = re.search(r"call (step_\d+_\w+) once", user_text(body))
    assert handed is not None
    return tool_call(handed.group(1))


def model_env(api: str, base_url: str) -> tuple[dict[str, str], str]:
    """The environment that points the triad at the scripted server, and its model display.

    ``chat``: the server's base URL and the model it serves (Chat Completions).
    ``responses``: ``openai:scripted``, the SDK sent to the server by ``OPENAI_BASE_URL``.
    """
    if api == "chat":
        env = {"TRIAD_MODEL": base_url, "TRIAD_AGENTS__MODEL_NAME": "scripted"}
        return env, f"scripted at {base_url}"
    return {"TRIAD_MODEL": "openai:scripted", "OPENAI_BASE_URL": base_url}, "openai:scripted"


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_operation_runs_through_the_four_branches_with_a_real_provider_client(
    settings: Settings, tmp_path: Path, openai_server: ScriptedOpenAIServer, api: str
) -> None:
    openai_server.responder = the_triad
    model_vars, model = model_env(api, openai_server.base_url)
    env = {**model_vars, "OPENAI_API_KEY": KEY}
    token = await issue_token(settings)
    body = {
        "operation_type": "maintenance",
        "constitutional_authority": "executive",
        "description": "two drills, watched by the whole triad",
        "requested_by": "ops",
        "steps": [{"action": "noop", "params": {}}, {"action": "noop", "params": {}}],
        "validation_criteria": ["system_functionality_maintained"],
    }
    async with triad_serve(settings, tmp_path, env) as served:
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            posted = await client.post("/operations", json=body, headers=auth)
            assert posted.status_code in (200, 201, 202), posted.text
            op_id = posted.json()["operation_id"]
            for _ in range(600):
                op = (await client.get(f"/operations/{op_id}", headers=auth)).json()
                if op["status"] in ("completed", "failed", "rolled_back", "rejected"):
                    break
                await asyncio.sleep(0.05)
        log = served.log()
    assert op["status"] == "completed", (op["status_reason"], log[-3000:])

    # One planner call, two per step for the executor (the tool call, then the report), one
    # evaluator call: each sent by the real OpenAI client, with the key it read from the env.
    kinds = [system_text(b).split(" of triadops")[0] for b in openai_server.requests]
    assert sorted(kinds) == sorted(
        ["You are the planner", *["You are the executor"] * 4, "You are the evaluator"]
    )
    assert len(openai_server.requests) == 6
    sent_as = {"responses" if responses_body(b) else "chat" for b in openai_server.requests}
    assert sent_as == {api}
    assert all(h["authorization"] == f"Bearer {KEY}" for h in openai_server.headers)
    assert any(name.startswith("x-stainless") for name in openai_server.headers[0])  # OpenAI SDK

    assert op["planning_result"]["agent"]["model"] == model
    assert [r["agent"] for r in op["implementation_result"]["agent"]] == ["executor", "executor"]
    assert op["validation_result"]["agent"]["ok"] is True

    shown = triad_cli(settings, env, "ops", "show", op_id)
    assert shown.returncode == 0, shown.stderr
    for agent in ("planner", "executor", "evaluator"):
        assert re.search(rf"│ {agent}\s+│", shown.stdout), shown.stdout
    assert "approved=True" in shown.stdout and "passed=True" in shown.stdout
    verified = triad_cli(settings, env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for text in (log, shown.stdout, shown.stderr, verified.stdout, str(op)):
        assert KEY not in text
