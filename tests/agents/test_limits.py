"""The limits on every model call: a concurrency cap per model, transient retries only,
and errors that never carry a key."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo

from tests.agents.openai_server import ScriptedOpenAIServer, final_output, http_error
from tests.agents.triad import YES_PLANNER, answer, with_agents
from tests.fixtures.pipeline import ALICE, load, request
from triadops.agents.consult import Consultant, Limiters
from triadops.constitution import lifecycle
from triadops.constitution.legislative.service import submit_operation
from triadops.domain.agents import AgentName
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.worker.claims import drive_once

KEY = "sk-test-limits-8f3a2b1c9d"


class Pong(BaseModel):
    ok: bool


async def test_a_burst_of_operations_opens_at_most_the_cap_of_calls_per_model(
    runtime: Runtime,
) -> None:
    in_flight, most = 0, 0

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.1)
        in_flight -= 1
        return answer(info, YES_PLANNER)

    powers = with_agents(runtime, planner=slow, concurrency=2)
    ids = []
    async with runtime.session() as session:
        for _ in range(12):
            row = await submit_operation(session, powers, request=request(), requester=ALICE)
            ids.append(row.id)
        await lifecycle.commit(session)
    while await drive_once(powers, owner="w"):  # one worker claims the whole burst at once
        pass
    assert most == 2
    assert {(await load(runtime, i)).status for i in ids} == {OperationStatus.COMPLETED}


def real_consultant(runtime: Runtime, server: ScriptedOpenAIServer, **agents: object) -> Consultant:
    settings = runtime.settings.model_copy(
        update={
            "model": "openai-chat:scripted",
            "agents": runtime.settings.agents.model_copy(update=agents),
        }
    )
    return Consultant(
        AgentName.PLANNER,
        settings=settings,
        sessions=runtime.sessions,
        limiters=Limiters(settings.agents.concurrency),
    )


@pytest.fixture
def provider_env(openai_server: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


async def test_a_transient_error_is_retried_with_backoff(
    runtime: Runtime, openai_server: ScriptedOpenAIServer, provider_env: None
) -> None:
    openai_server.script(http_error(503), http_error(429), final_output({"ok": True}))
    consultant = real_consultant(runtime, openai_server, max_retries=2)
    try:
        got = await consultant.ask(Agent(output_type=Pong), "ping", operation_id=None, alert=False)
    finally:
        await consultant.aclose()
    assert got.output == Pong(ok=True)
    assert len(openai_server.requests) == 3
    assert got.report.ok and got.report.model == "openai-chat:scripted"


async def test_a_refusal_is_not_retried_and_its_error_carries_no_key(
    runtime: Runtime, openai_server: ScriptedOpenAIServer, provider_env: None
) -> None:
    echoed = f"Incorrect API key provided: {KEY}. You can find your key at ..."
    openai_server.script(http_error(401, echoed), http_error(400, f"bad request from {KEY}"))
    consultant = real_consultant(runtime, openai_server, max_retries=3)
    try:
        denied = await consultant.ask(Agent(output_type=Pong), "ping", operation_id=None)
        refused = await consultant.ask(Agent(output_type=Pong), "ping", operation_id=None)
    finally:
        await consultant.aclose()
    assert len(openai_server.requests) == 2  # once each, never retried
    assert denied.report.error == "ModelAuthenticationError: HTTP 401 from the model's API"
    assert refused.report.error is not None and "HTTP 400" in refused.report.error
    for report in (denied.report, refused.report):
        assert not report.ok and KEY not in report.model_dump_json()


async def test_a_missing_key_is_a_failed_consultation_that_says_which_variable(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = runtime.settings.model_copy(update={"model": "openai:gpt-5.2"})
    consultant = Consultant(
        AgentName.PLANNER, settings=settings, sessions=runtime.sessions, limiters=Limiters(1)
    )
    got = await consultant.ask(Agent(output_type=Pong), "ping", operation_id="op-x")
    assert got.output is None
    assert got.report.error is not None and "OPENAI_API_KEY" in got.report.error


async def test_the_suite_never_reaches_a_real_provider(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = runtime.settings.model_copy(update={"model": "openai-chat:gpt-6.1-terra"})
    consultant = Consultant(
        AgentName.PLANNER, settings=settings, sessions=runtime.sessions, limiters=Limiters(1)
    )
    try:
        got = await consultant.ask(Agent(output_type=Pong), "ping", operation_id=None, alert=False)
    finally:
        await consultant.aclose()
    assert got.report.error is not None and "not allowed" in got.report.error
