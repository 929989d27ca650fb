"""Models' answers are stored scrubbed of keys, and a huge answer is refused as it arrives.

The attacker here is the model's endpoint (or whatever answers at its URL): it echoes the
``Authorization`` header it was sent, repeats keys in its findings, or answers gigabytes.
What it says is kept where any viewer reads it (the ledger's ``agent_consulted`` entries,
``agent_calls``, ``/agents/health``, ``ops show``), so no key may reach any of them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent
from sqlalchemy import select
from typer.testing import CliRunner

from tests.agents.openai_server import (
    AUTHORIZATION,
    Reply,
    ScriptedOpenAIServer,
    final_output,
    huge,
    system_text,
)
from tests.agents.triad import YES_EVALUATOR, YES_PLANNER
from tests.fixtures.api import Api, drive, noop_request
from triadops.agents.consult import Consultant, Limiters
from triadops.agents.keys import scrub
from triadops.cli.main import app as cli
from triadops.domain.agents import AgentName
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import AgentCallRow, AlertRow, LedgerRow

KEY = "k" + uuid.uuid4().hex
"""The provider key: no recognisable shape, so only its configured value can catch it."""
OTHER_KEY = "sk-proj-" + uuid.uuid4().hex
"""A key the model makes up or leaks from elsewhere: caught by its shape."""
PASSWORD = "Zx9" + uuid.uuid4().hex[:14]
LEAKS = (KEY, OTHER_KEY, PASSWORD)


def echoing(body: dict[str, Any]) -> Reply:
    """Answer as the planner or evaluator would, saying back every key it can."""
    said = [
        f"you sent me {AUTHORIZATION}",
        f"the raw value {KEY} works too",
        f"found {OTHER_KEY} in the config",
        f"password: {PASSWORD}",
    ]
    if "You are the planner" in system_text(body):
        return final_output(
            {**YES_PLANNER, "findings": said, "resource_requirements": {"auth": AUTHORIZATION}}
        )
    return final_output({**YES_EVALUATOR, "findings": said, "recommendations": said})


@pytest.fixture
def settings(
    database_url: str,
    tmp_path: Path,
    openai_server: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """The planner and evaluator consult the scripted server, with `KEY` in the env."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    home = tmp_path / "home"
    home.mkdir()
    agents = {"planner": openai_server.base_url, "evaluator": openai_server.base_url}
    return Settings(
        home=home,
        database_url=database_url,
        monitor=False,
        agents={**agents, "model_name": "scripted"},
    )


async def everything_stored(rt: Runtime) -> str:
    """The ledger, the recorded calls and the alerts, as one text."""
    async with rt.session(read_only=True) as session:
        rows: list[Any] = []
        for table in (LedgerRow, AgentCallRow, AlertRow):
            found = (await session.execute(select(table))).scalars().all()
            rows += [{c.key: getattr(r, c.key) for c in table.__mapper__.columns} for r in found]
    return json.dumps(rows, default=str)


def ops_show(settings: Settings, operation_id: str, *flags: str) -> str:
    env = {
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
        "TRIAD_CONFIG": "",  # no configuration file
    }
    result = CliRunner().invoke(cli, ["ops", "show", operation_id, *flags], env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def test_an_endpoint_echoing_the_key_leaves_no_key_anywhere_a_viewer_reads(
    api: Api, rt: Runtime, settings: Settings, openai_server: ScriptedOpenAIServer
) -> None:
    openai_server.responder = echoing
    created = await api.submit(noop_request(description="watched by an echoing model"))
    await drive(rt)
    shown = await api.get(f"/operations/{created['operation_id']}")
    assert shown.json()["status"] == "completed", shown.text
    # The endpoint did receive the key, and did say it back.
    assert openai_server.headers and all(
        h["authorization"] == f"Bearer {KEY}" for h in openai_server.headers
    )
    assert len(openai_server.requests) == 2

    stored = await everything_stored(rt)
    health = (await api.get("/agents/health")).text
    audit = (await api.get("/audit/log")).text
    # The CLI runs its own event loop: give it a thread of its own.
    human = await asyncio.to_thread(ops_show, settings, created["operation_id"])
    as_json = await asyncio.to_thread(ops_show, settings, created["operation_id"], "--json")
    for where, text in {
        "stored": stored,
        "operation": shown.text,
        "agents health": health,
        "audit log": audit,
        "ops show": human,
        "ops show --json": as_json,
    }.items():
        for leak in LEAKS:
            assert leak not in text, (where, leak)
    # What the model said is kept, masked: the planner's findings reach the plan's notes.
    planned = shown.json()["planning_result"]
    assert "planner: you sent me Bearer ***" in planned["advice"]
    assert "planner: the raw value *** works too" in planned["advice"]
    assert planned["agent"]["output"]["resource_requirements"] == {"auth": "Bearer ***"}
    assert "password: ***" in shown.json()["validation_result"]["agent"]["output"]["findings"]


class Pong(BaseModel):
    ok: bool


@pytest.fixture
def consultant(runtime: Runtime, openai_server: ScriptedOpenAIServer) -> Iterator[Consultant]:
    settings = runtime.settings.model_copy(
        update={
            "model": openai_server.base_url,
            "agents": runtime.settings.agents.model_copy(
                update={"model_name": "scripted", "max_retries": 0}
            ),
        }
    )
    yield Consultant(
        AgentName.PLANNER, settings=settings, sessions=runtime.sessions, limiters=Limiters(1)
    )


@pytest.mark.parametrize("announce", [False, True], ids=["streamed", "announced"])
async def test_a_huge_answer_fails_closed_without_being_read_whole(
    consultant: Consultant, openai_server: ScriptedOpenAIServer, announce: bool
) -> None:
    size = 64 * 1024 * 1024
    openai_server.script(huge(size, announce=announce))
    try:
        got = await consultant.ask(Agent(output_type=Pong), "ping", operation_id=None, alert=False)
    finally:
        await consultant.aclose()
    assert got.output is None and not got.report.ok
    assert got.report.error is not None
    assert got.report.error.startswith("answer too large: the model's answer"), got.report.error
    assert "agents.max_response_bytes = 1048576" in got.report.error
    assert ("announced 67108864 bytes" in got.report.error) is announce
    assert len(openai_server.requests) == 1  # refused, never retried
    # The client stopped reading past the cap: the server got rid of a small part of the
    # body (what the sockets buffer), never the whole of it.
    assert openai_server.huge_bytes_sent < size // 4, openai_server.huge_bytes_sent


async def test_an_answer_under_the_cap_is_read(
    consultant: Consultant, openai_server: ScriptedOpenAIServer
) -> None:
    openai_server.script(final_output({"ok": True}))
    try:
        got = await consultant.ask(Agent(output_type=Pong), "ping", operation_id=None, alert=False)
    finally:
        await consultant.aclose()
    assert got.output == Pong(ok=True)
    assert openai_server.headers[0]["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: ***"),
        ("sent with Bearer eyJhbGciOi.x.y", "sent with Bearer ***"),
        ("found sk-ant-api03-0123456789abcdefABCD, ok", "found ***, ok"),
        ("google AIzaSyA1234567890abcdefghijklmnopqrstu", "google ***"),
        ("api_key=abc123def456ghi789", "api_key=***"),
        ("x-api-key: Ab12Cd34Ef56Gh78Ij90", "x-api-key: ***"),
        ("the token is 9f8e7d6c5b4a39281706", "the token is ***"),
        ('{"password": "Zx9vQ2mN8pL4kR7t"}', '{"password": "***"}'),
        ("a secret keyboard layout", "a secret keyboard layout"),
        (
            "plan hash 0123456789abcdef0123456789abcdef",
            "plan hash 0123456789abcdef0123456789abcdef",
        ),
    ],
)
def test_key_shaped_text_is_masked_and_ordinary_text_kept(said: str, kept: str) -> None:
    assert scrub(said) == kept


def test_configured_keys_are_masked_whatever_their_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "plainwordsnodigits")
    monkeypatch.setenv("MY_VENDOR_TOKEN", "anotherplainvalue")
    said = "gemini plainwordsnodigits vendor anotherplainvalue settings hunter2hunter2"
    assert scrub(said, ["hunter2hunter2"]) == "gemini *** vendor *** settings ***"
