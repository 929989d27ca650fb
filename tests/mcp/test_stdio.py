"""``triad mcp`` over stdio, with the SDK's client: an assistant asks, it never decides.

The doors of "an assistant cannot approve its own request": no approve, reject,
acknowledge, resolve, review, freeze or unfreeze tool exists; calling one by name fails;
amending does not approve; requesting in another's name is refused; a viewer token only
reads. Each submission lands exactly where the same request lands through the API.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.api import Api, high_risk_request, noop_request
from tests.mcp.conftest import answer, over_stdio, text
from triadops.settings import Settings

pytestmark = pytest.mark.slow

DECIDING = ("approve", "reject", "acknowledge", "resolve", "review", "freeze", "unfreeze")
"""Verbs of the powers that belong to people with their own tokens, never to the assistant."""


def submission(body: dict[str, Any]) -> dict[str, Any]:
    return {"request": body}


async def test_a_high_risk_submission_waits_for_the_same_approval_as_through_the_api(
    settings: Settings, api: Api, tokens: dict[str, str]
) -> None:
    through_api = await api.submit(high_risk_request())
    assert through_api["status"] == "awaiting_approval"

    async with over_stdio(settings, tokens["alice"]) as client:
        result = await client.call_tool("submit_operation", submission(high_risk_request()))
        record = answer(result)
        op = record["operation"]
        operation_id = op["operation_id"]
        assert op["status"] == "awaiting_approval", record
        assert op["request"]["requested_by"] == "alice"
        assert op["planning_result"]["risk_level"] == "high"
        assert (
            op["planning_result"]["required_approvals"]
            == through_api["planning_result"]["required_approvals"]
        )
        # The token's principal is the actor; the assistant's name rides beside it.
        submitted = record["timeline"][0]
        assert submitted["event"] == "submitted"
        assert submitted["actor"] == "alice"
        assert submitted["details"]["via"] == "mcp:test-assistant"

        # No tool decides. Calling one by name is an error, and nothing changed.
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert not {n for n in names if any(verb in n for verb in DECIDING)}, names
        for verb in DECIDING:
            refused = await client.call_tool(f"{verb}_operation", {"operation_id": operation_id})
            assert refused.is_error, verb
        # Amending its own plan voids approvals and reviews it again: still waiting.
        steps = [{"action": "database.purge_audit_logs", "params": {"older_than_days": 90}}]
        amended = answer(
            await client.call_tool(
                "amend_operation", {"operation_id": operation_id, "steps": steps}
            )
        )
        assert amended["operation"]["status"] == "awaiting_approval"
        assert amended["operation"]["approvals"] == []

    assert await api.status(operation_id) == "awaiting_approval"
    # Its own principal cannot approve it through the API either; another legislator can.
    assert (await api.approve(operation_id, as_="alice")).status_code == 403
    approved = await api.approve(operation_id, as_="bob")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "scheduled"
    # The chain, with the assistant's name in it, still proves the stored state.
    verified = (await api.get("/audit/verify")).json()
    assert verified["ok"], verified


async def test_a_viewer_token_reads_and_is_refused_every_change(
    settings: Settings, api: Api, tokens: dict[str, str]
) -> None:
    mine = await api.submit(noop_request())
    async with over_stdio(settings, tokens["viewer"]) as client:
        procedures = answer(await client.call_tool("list_procedures", {}))
        assert "database_optimization" in {p["name"] for p in procedures}
        listed = answer(await client.call_tool("list_operations", {}))
        assert mine["operation_id"] in {o["operation_id"] for o in listed}
        shown = answer(
            await client.call_tool("read_operation", {"operation_id": mine["operation_id"]})
        )
        assert shown["operation"]["request"]["requested_by"] == "alice"
        assert answer(await client.call_tool("list_alerts", {})) == []
        assert "score" in answer(await client.call_tool("read_health", {}))

        calls = [
            ("submit_operation", submission(noop_request())),
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

    listed_after = (await api.get("/operations", params={"limit": 100})).json()["items"]
    assert [o["operation_id"] for o in listed_after] == [mine["operation_id"]]
    assert await api.status(mine["operation_id"]) == mine["status"]
    refusals = (await api.get("/audit/log", params={"limit": 1000})).json()
    refused = [e for e in refusals["items"] if e["event"] == "refused"]
    assert {(e["actor"], e["details"]["action"]) for e in refused} >= {
        ("viewer", "mcp submit"),
        ("viewer", "mcp amend"),
        ("viewer", "mcp cancel"),
    }


async def test_a_request_in_another_principals_name_is_refused(
    settings: Settings, api: Api, tokens: dict[str, str]
) -> None:
    async with over_stdio(settings, tokens["alice"]) as client:
        body = noop_request(requested_by="bob")
        refused = await client.call_tool("submit_operation", submission(body))
        assert refused.is_error
        assert "refused:" in text(refused)
    assert (await api.get("/operations")).json()["items"] == []


async def test_a_procedure_tool_submits_and_its_requester_cancels(
    settings: Settings, api: Api, tokens: dict[str, str]
) -> None:
    async with over_stdio(settings, tokens["eve"]) as client:
        record = answer(
            await client.call_tool(
                "submit_database_optimization", {"scheduled_time": "2999-01-01T00:00:00Z"}
            )
        )
        op = record["operation"]
        assert op["request"]["procedure"] == "database_optimization"
        assert op["request"]["constitutional_authority"] == "executive"
        assert op["status"] == "scheduled", record
        cancelled = answer(
            await client.call_tool(
                "cancel_operation", {"operation_id": op["operation_id"], "reason": "not now"}
            )
        )
        assert cancelled["operation"]["status"] == "cancelled"
        assert cancelled["cancel"] == "cancelled"
    assert await api.status(op["operation_id"]) == "cancelled"


def test_triad_mcp_refuses_to_start_without_a_token_or_with_a_bad_one(
    settings: Settings, api: Api
) -> None:
    import subprocess
    import sys

    from tests.mcp.conftest import triad_env

    command = [sys.executable, "-m", "triadops.cli.main", "mcp"]
    for token in ("", "triad_not-a-token"):
        done = subprocess.run(
            command,
            env=triad_env(settings, TRIAD_TOKEN=token),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode != 0, token
        assert done.stdout == b"", token
        lines = done.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
        assert "Traceback" not in done.stderr.decode()
    assert (
        b"TRIAD_TOKEN"
        in subprocess.run(
            command,
            env=triad_env(settings),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        ).stderr
    )
