"""``triad mcp --http``: a real server on loopback; every request proves a token.

The doors of "no tool runs without a token": no header, a token that is not one, a revoked
token, and a session id reused without a token (the MCP session proves nothing alone).
"""

from __future__ import annotations

import httpx
import psutil
import pytest
from mcp.shared.exceptions import MCPError

from tests.fixtures.api import Api, high_risk_request
from tests.mcp.conftest import McpHttp, answer, text
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import revoke_token
from triadops.runtime import Runtime

pytestmark = pytest.mark.slow

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def test_it_listens_on_loopback_only_by_default(mcp_http: McpHttp) -> None:
    listening = [
        c.laddr
        for c in psutil.Process(mcp_http.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening, mcp_http.log.read_text()
    assert {address.ip for address in listening} == {"127.0.0.1"}


async def test_requests_without_a_valid_token_get_401_and_run_nothing(
    mcp_http: McpHttp, api: Api, tokens: dict[str, str]
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        bare = await http.post(mcp_http.url, json=INITIALIZE, headers=ACCEPT)
        assert bare.status_code == 401
        assert bare.headers["www-authenticate"] == "Bearer"
        for header in ("Bearer triad_not-a-token", "Basic YWxpY2U6eA==", "Bearer"):
            wrong = await http.post(
                mcp_http.url, json=INITIALIZE, headers={**ACCEPT, "Authorization": header}
            )
            assert wrong.status_code == 401, header

        # A session opened with a token is not a pass for a request without one.
        opened = await http.post(
            mcp_http.url,
            json=INITIALIZE,
            headers={**ACCEPT, "Authorization": f"Bearer {tokens['alice']}"},
        )
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "submit_operation", "arguments": {"request": high_risk_request()}},
        }
        hijack = await http.post(
            mcp_http.url, json=call, headers={**ACCEPT, "mcp-session-id": session}
        )
        assert hijack.status_code == 401
    assert (await api.get("/operations")).json()["items"] == []


async def test_a_submission_over_http_waits_for_approval_and_a_viewer_only_reads(
    mcp_http: McpHttp, api: Api, tokens: dict[str, str]
) -> None:
    async with mcp_http.client(tokens["alice"]) as client:
        record = answer(
            await client.call_tool("submit_operation", {"request": high_risk_request()})
        )
    op = record["operation"]
    assert op["status"] == "awaiting_approval"
    assert op["request"]["requested_by"] == "alice"
    assert record["timeline"][0]["details"]["via"] == "mcp:test-assistant"

    async with mcp_http.client(tokens["viewer"]) as client:
        shown = answer(
            await client.call_tool("read_operation", {"operation_id": op["operation_id"]})
        )
        assert shown["operation"]["status"] == "awaiting_approval"
        refused = await client.call_tool("submit_operation", {"request": high_risk_request()})
        assert refused.is_error
        assert "refused: viewer holds none of the roles this needs" in text(refused)
    items = (await api.get("/operations")).json()["items"]
    assert [o["operation_id"] for o in items] == [op["operation_id"]]


async def test_a_token_revoked_mid_session_stops_working_at_its_next_request(
    mcp_http: McpHttp, api: Api, tokens: dict[str, str], rt: Runtime
) -> None:
    async with mcp_http.client(tokens["eve"]) as client:
        answer(await client.call_tool("list_procedures", {}))
        async with rt.session() as session:
            await revoke_token(session, name="eve", by="test")
            await lifecycle.commit(session)
        # The transport answers 401 before MCP sees the call: the client gets an error.
        with pytest.raises(MCPError):
            await client.call_tool("submit_database_optimization", {})
    assert (await api.get("/operations")).json()["items"] == []
