"""Standard changes over HTTP, both databases: the whole path from runs to pre-approval.

Doors of "only a legislator decides a plan's standing": grant, decline and revoke each
refused to a viewer, an executive, a judge and the crown (403, nothing changed); a decline
or revoke without a reason is 422; a bad plan name 422 with its field; an unknown one 404.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.api import Api, drive
from tests.ops.standards.conftest import restart_settings
from triadops.runtime import Runtime
from triadops.settings import Settings

RESTART = {
    "operation_type": "maintenance",
    "constitutional_authority": "executive",
    "description": "restart the app",
    "procedure": "restart",
}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return restart_settings(settings, tmp_path / "broken")


@pytest.fixture(autouse=True)
async def governed(rt: Runtime) -> None:
    """The server stores its governance on start (``triad serve``): the threshold is there."""
    await rt.check_governance(writer="test server", adopt=True)


async def _run(api: Api, rt: Runtime) -> dict[str, Any]:
    created = await api.submit({**RESTART, "requested_by": "alice"})
    if created["status"] == "awaiting_approval":
        assert (await api.approve(created["operation_id"], as_="bob")).status_code == 200
    await drive(rt)
    shown = (await api.get(f"/operations/{created['operation_id']}")).json()
    assert shown["status"] == "completed", shown["status_reason"]
    return shown


async def _proposed(api: Api, rt: Runtime) -> str:
    plan = str((await _run(api, rt))["plan_hash"])
    await _run(api, rt)
    listed = (await api.get("/standards", params={"standing": "proposed"})).json()["items"]
    assert [(s["plan_hash"], s["streak"], s["subject"]) for s in listed] == [
        (plan, 2, "procedure:restart")
    ]
    return plan


async def test_a_proposed_plan_granted_over_http_pre_approves_the_next_request(
    api: Api, rt: Runtime
) -> None:
    plan = await _proposed(api, rt)
    granted = await api.post(f"/standards/{plan[:10]}/grant", as_="bob", json={"reason": "ok"})
    assert granted.status_code == 200, granted.text
    assert granted.json()["standing"] == "standard" and granted.json()["decided_by"] == "bob"
    created = await api.submit({**RESTART, "requested_by": "alice"})
    assert created["status"] == "scheduled", created["status_reason"]
    entries = (await api.get("/audit/log", params={"operation_id": created["operation_id"]})).json()
    approvals = [e for e in entries["items"] if e["event"] == "approval"]
    assert [(e["actor"], e["details"].get("standard")) for e in approvals] == [("bob", True)]
    shown = (await api.get(f"/standards/{plan}")).json()
    assert shown["standing"] == "standard"


@pytest.mark.parametrize("who", ["viewer", "eve", "judge", "carol"])
async def test_only_a_legislator_decides(api: Api, rt: Runtime, who: str) -> None:
    plan = await _proposed(api, rt)
    for verb in ("grant", "decline", "revoke"):
        answer = await api.post(f"/standards/{plan}/{verb}", as_=who, json={"reason": "x"})
        assert answer.status_code == 403, answer.text
        assert "legislative role" in answer.json()["detail"]
    shown = (await api.get(f"/standards/{plan}")).json()
    assert (shown["standing"], shown["decided_by"]) == ("proposed", None)


async def test_bad_requests_say_what_and_where(api: Api, rt: Runtime) -> None:
    plan = await _proposed(api, rt)
    no_reason = await api.post(f"/standards/{plan}/decline", as_="bob", json={})
    assert no_reason.status_code == 422, no_reason.text
    assert "say why" in no_reason.text
    missing_body = await api.post(f"/standards/{plan}/revoke", as_="bob")
    assert missing_body.status_code == 422
    short = await api.post("/standards/abc/grant", as_="bob")
    assert short.status_code == 422 and "plan" in short.text
    unknown = await api.post("/standards/0123456789abcdef/grant", as_="bob")
    assert unknown.status_code == 404, unknown.text
    wrong = await api.get("/standards", params={"standing": "approved"})
    assert wrong.status_code == 422 and "standing" in wrong.text
    too_long = await api.post(f"/standards/{plan}/decline", as_="bob", json={"reason": "x" * 501})
    assert too_long.status_code == 422
    shown = (await api.get(f"/standards/{plan}")).json()
    assert shown["standing"] == "proposed", "a refused request changed the record"


async def test_a_runbooks_record_names_its_resolutions(api: Api) -> None:
    answer = await api.get("/runbooks/data_inconsistency/record")
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["runbook"] == "data_inconsistency" and shown["incidents"] == {}
    assert {r["subject"] for r in shown["resolutions"]} >= {"procedure:backup_database"}
    assert (await api.get("/runbooks/no_such_book/record")).status_code == 404
    assert (await api.get("/runbooks/Bad Name/record")).status_code == 422
