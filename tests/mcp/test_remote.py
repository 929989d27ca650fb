"""``triad mcp`` against a real ``triad serve`` (TRIAD_URL): the server's gates decide.

The assistant's process has its own empty TRIAD_HOME and no database URL: every tool is a
call to the server's API with the token, and no database is opened (or made) here. The
doors of "an assistant asks as its token, never more": a high-risk submission waits for
the same approvals; a viewer's submission is refused with the server's reason; a request
in another's name is refused; the assistant's name (``via``) is kept beside the token's
principal, never instead of it, however it is spelt; over ``--http`` each request's token
is the one passed on, and a request without one gets 401.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation, Tool

from tests.fixtures.api import Api, high_risk_request, noop_request
from tests.fixtures.servers import Served, free_port, triad_serve
from tests.mcp.conftest import ASSISTANT, _answering, answer, text
from triadops.mcp.calls import TokenCaller
from triadops.mcp.local import LocalTools
from triadops.mcp.server import build_server
from triadops.runtime import Runtime
from triadops.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
async def served(settings: Settings, tmp_path: Path) -> AsyncIterator[Served]:
    """A real ``triad serve`` on the test's database."""
    async with triad_serve(settings, tmp_path, {"TRIAD_MONITOR": "false"}) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The assistant machine's TRIAD_HOME: empty, and it must stay free of any database."""
    folder = tmp_path / "assistant-home"
    folder.mkdir()
    return folder


def remote_env(served: Served, home: Path, token: str) -> dict[str, str]:
    """The environment of a remote ``triad mcp``: the server's URL and a token, nothing else."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")},
        "TRIAD_HOME": str(home),
        "TRIAD_URL": served.url,
        "TRIAD_TOKEN": token,
        "XDG_CONFIG_HOME": str(home.parent / "user-config"),
    }


def over_stdio(
    served: Served, home: Path, token: str, assistant: Implementation = ASSISTANT
) -> Client:
    """A client that spawns a remote ``triad mcp`` with `token`."""
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "triadops.cli.main", "mcp"],
        env=remote_env(served, home, token),
        cwd=str(home),
    )
    return Client(command, client_info=assistant, read_timeout_seconds=60)


def databases_in(home: Path) -> list[Path]:
    """Every file in `home` that looks like a database (SQLite's and its journals)."""
    return [p for p in home.rglob("*") if ".db" in p.name or "sqlite" in p.name]


def shape(tool: Tool) -> tuple[object, ...]:
    """What an assistant sees of a tool: description, schemas and hints."""
    hints = tool.annotations.model_dump() if tool.annotations else None
    return tool.description, tool.input_schema, tool.output_schema, hints


async def test_a_remote_submission_waits_for_the_same_approvals_and_names_both(
    served: Served, home: Path, api: Api, tokens: dict[str, str], rt: Runtime
) -> None:
    local = {
        t.name: shape(t) for t in await build_server(LocalTools(rt, TokenCaller(""))).list_tools()
    }
    through_api = await api.submit(high_risk_request())

    async with over_stdio(served, home, tokens["alice"]) as client:
        remote = {t.name: shape(t) for t in (await client.list_tools()).tools}
        record = answer(
            await client.call_tool("submit_operation", {"request": high_risk_request()})
        )
        op = record["operation"]
        shown = answer(
            await client.call_tool("read_operation", {"operation_id": op["operation_id"]})
        )

    # The same tools, schemas and hints as a local ``triad mcp`` on the server's database.
    assert remote == local
    assert op["status"] == "awaiting_approval", record
    assert (
        op["planning_result"]["required_approvals"]
        == through_api["planning_result"]["required_approvals"]
    )
    # The token's principal asked; the assistant is named beside it, on the operation too.
    assert op["request"]["requested_by"] == "alice"
    assert op["via"] == "mcp:test-assistant"
    assert shown["operation"]["via"] == "mcp:test-assistant"
    submitted = record["timeline"][0]
    assert (submitted["event"], submitted["actor"]) == ("submitted", "alice")
    assert submitted["details"]["via"] == "mcp:test-assistant"

    operation_id = op["operation_id"]
    assert (await api.approve(operation_id, as_="alice")).status_code == 403
    approved = await api.approve(operation_id, as_="bob")
    assert approved.status_code == 200, approved.text
    assert approved.json()["via"] == "mcp:test-assistant"
    assert (await api.get("/audit/verify")).json()["ok"]
    assert databases_in(home) == [], sorted(home.rglob("*"))


async def test_a_viewer_s_remote_submission_is_refused_with_the_server_s_reason(
    served: Served, home: Path, api: Api, tokens: dict[str, str]
) -> None:
    mine = await api.submit(noop_request())
    async with over_stdio(served, home, tokens["viewer"]) as client:
        listed = answer(await client.call_tool("list_operations", {}))
        assert [o["operation_id"] for o in listed] == [mine["operation_id"]]
        assert "database_optimization" in {
            p["name"] for p in answer(await client.call_tool("list_procedures", {}))
        }
        assert answer(await client.call_tool("list_alerts", {})) == []
        assert "score" in answer(await client.call_tool("read_health", {}))
        calls = [
            ("submit_operation", {"request": noop_request()}),
            ("submit_database_optimization", {}),
            (
                "amend_operation",
                {"operation_id": mine["operation_id"], "steps": [{"action": "noop"}]},
            ),
            ("cancel_operation", {"operation_id": mine["operation_id"]}),
        ]
        for name, arguments in calls:
            refused = await client.call_tool(name, arguments)
            assert refused.is_error, name
            assert "refused: viewer holds none of the roles this needs" in text(refused), name
        missing = await client.call_tool("read_operation", {"operation_id": "op-nothere"})
        assert missing.is_error and "not found" in text(missing)

    items = (await api.get("/operations")).json()["items"]
    assert [o["operation_id"] for o in items] == [mine["operation_id"]]
    assert databases_in(home) == []


async def test_a_remote_request_in_another_name_is_refused_and_a_forged_via_decides_nothing(
    served: Served, home: Path, api: Api, tokens: dict[str, str]
) -> None:
    forger = Implementation(name="bob (crown)\x1b[2J\n" + "x" * 500, version="1")
    async with over_stdio(served, home, tokens["eve"], forger) as client:
        refused = await client.call_tool(
            "submit_operation", {"request": noop_request(requested_by="bob")}
        )
        assert refused.is_error and "refused:" in text(refused)
        record = answer(
            await client.call_tool(
                "submit_database_optimization", {"scheduled_time": "2999-01-01T00:00:00Z"}
            )
        )
    op = record["operation"]
    assert op["request"]["requested_by"] == "eve"
    assert op["request"]["constitutional_authority"] == "executive"  # eve's role, via /whoami
    # Stored as what it is, a claim in printable text: the escape and the break replaced.
    assert op["via"].startswith("mcp:bob (crown)?[2J?x") and len(op["via"]) == 100
    assert op["via"].isprintable()
    items = (await api.get("/operations")).json()["items"]
    assert [o["operation_id"] for o in items] == [op["operation_id"]]


async def test_the_api_refuses_a_via_that_is_not_short_printable_text(api: Api) -> None:
    for via in ("mcp:x\x1b[31m", "line\nbreak", "tab\there", "x" * 101, "", " leading", "é"):
        response = await api.post("/operations", as_="alice", json={**noop_request(), "via": via})
        assert response.status_code == 422, via
        assert response.json()["field"] == "via", response.json()
    assert (await api.get("/operations")).json()["items"] == []

    # Any short printable claim is kept as said, and claims nothing: the token asked.
    claimed = await api.submit({**noop_request(), "via": "requested_by=bob; role=crown"})
    assert claimed["request"]["requested_by"] == "alice"
    assert claimed["via"] == "requested_by=bob; role=crown"
    assert claimed["timeline"][0]["actor"] == "alice"
    assert (await api.submit(noop_request()))["via"] is None


async def test_a_stored_login_is_a_server_as_for_every_other_command(
    served: Served, home: Path, api: Api, tokens: dict[str, str]
) -> None:
    login = home.parent / "user-config" / "triad" / "hosts.toml"
    login.parent.mkdir(parents=True)
    login.write_text(f'url = "{served.url}"\ntoken = "{tokens["eve"]}"\n')
    env = remote_env(served, home, "")
    del env["TRIAD_URL"], env["TRIAD_TOKEN"]
    command = StdioServerParameters(
        command=sys.executable, args=["-m", "triadops.cli.main", "mcp"], env=env, cwd=str(home)
    )
    async with Client(command, client_info=ASSISTANT, read_timeout_seconds=60) as client:
        record = answer(
            await client.call_tool(
                "submit_database_optimization", {"scheduled_time": "2999-01-01T00:00:00Z"}
            )
        )
    assert record["operation"]["request"]["requested_by"] == "eve"
    assert await api.status(record["operation"]["operation_id"]) == "scheduled"
    assert databases_in(home) == []


async def test_triad_mcp_refuses_to_start_against_a_server_that_refuses_its_token(
    served: Served, home: Path
) -> None:
    for env in (
        remote_env(served, home, "triad_not-a-token"),
        {**remote_env(served, home, "x"), "TRIAD_URL": f"http://127.0.0.1:{free_port()}"},
    ):
        done = subprocess.run(
            [sys.executable, "-m", "triadops.cli.main", "mcp"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        lines = done.stderr.decode().splitlines()
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert lines[0].startswith("error: "), lines
    assert "refused the token" in lines[0] or "cannot reach" in lines[0]
    assert databases_in(home) == []


@asynccontextmanager
async def remote_http(served: Served, home: Path, token: str) -> AsyncIterator[str]:
    """Run a remote ``triad mcp --http`` (reading its catalogue with `token`); its URL."""
    port = free_port()
    log = home.parent / "mcp-remote.stderr"
    command = [sys.executable, "-m", "triadops.cli.main", "mcp", "--http", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=remote_env(served, home, token), cwd=home, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        await _answering(process, url, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@asynccontextmanager
async def http_client(url: str, token: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as h:
        transport = streamable_http_client(url, http_client=h)
        async with Client(transport, client_info=ASSISTANT, read_timeout_seconds=60) as client:
            yield client


async def test_over_http_each_request_s_token_is_the_one_the_server_sees(
    served: Served, home: Path, api: Api, tokens: dict[str, str]
) -> None:
    async with remote_http(served, home, tokens["viewer"]) as url:
        async with httpx.AsyncClient(timeout=10) as http:
            for headers in ({}, {"Authorization": "Bearer triad_not-a-token"}):
                bare = await http.post(url, json={}, headers=headers)
                assert bare.status_code == 401, bare.text
        async with http_client(url, tokens["alice"]) as client:
            record = answer(
                await client.call_tool("submit_operation", {"request": high_risk_request()})
            )
        async with http_client(url, tokens["viewer"]) as client:
            refused = await client.call_tool("submit_operation", {"request": noop_request()})
    op = record["operation"]
    assert op["status"] == "awaiting_approval"
    assert (op["request"]["requested_by"], op["via"]) == ("alice", "mcp:test-assistant")
    assert refused.is_error
    assert "refused: viewer holds none of the roles this needs" in text(refused)
    items = (await api.get("/operations")).json()["items"]
    assert [o["operation_id"] for o in items] == [op["operation_id"]]
    assert databases_in(home) == []
