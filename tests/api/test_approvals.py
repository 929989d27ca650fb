from __future__ import annotations

from tests.fixtures.api import Api, drive, high_risk_request
from triadops.runtime import Runtime


async def test_high_risk_waits_for_another_legislator(api: Api, rt: Runtime) -> None:
    op = await api.submit(high_risk_request())
    assert op["status"] == "awaiting_approval"
    assert op["planning_result"]["risk_level"] == "high"
    assert op["planning_result"]["required_approvals"] == ["legislative"]

    own = await api.approve(op["operation_id"], as_="alice")
    assert own.status_code == 403
    assert "cannot approve" in own.json()["detail"]
    assert (await api.approve(op["operation_id"], as_="viewer")).status_code == 403
    assert (await api.approve(op["operation_id"], as_="judge")).status_code == 403

    approved = await api.approve(op["operation_id"], as_="bob")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "scheduled"
    assert [(a["approver"], a["authority"]) for a in body["approvals"]] == [("bob", "legislative")]
    assert [e["event"] for e in body["timeline"]].count("approval") == 1

    again = await api.approve(op["operation_id"], as_="bob")
    assert again.status_code == 409


async def test_approving_under_an_authority_not_required_is_409(api: Api) -> None:
    op = await api.submit(high_risk_request())
    response = await api.approve(op["operation_id"], as_="carol", authority="crown")
    assert response.status_code == 409
    bad = await api.approve(op["operation_id"], as_="bob", authority="king")
    assert bad.status_code == 422
    assert bad.json()["field"] == "authority"


async def test_a_plan_edit_voids_the_approval(api: Api, rt: Runtime) -> None:
    op = await api.submit(high_risk_request())
    path = f"/operations/{op['operation_id']}"
    assert (await api.approve(op["operation_id"], as_="bob")).json()["status"] == "scheduled"

    steps = {"steps": [{"action": "database.purge_audit_logs", "params": {"older_than_days": 90}}]}
    amended = await api.put(f"{path}/steps", as_="alice", json=steps)
    assert amended.status_code == 200, amended.text
    body = amended.json()
    assert body["status"] == "awaiting_approval"
    assert body["plan"]["steps"][0]["params"]["older_than_days"] == 90
    assert body["plan_hash"] != op["plan_hash"]
    # Bob's approval is still on record, bound to the old plan: it no longer counts.
    assert [a["plan_hash"] for a in body["approvals"]] == [op["plan_hash"]]

    await drive(rt)
    assert await api.status(op["operation_id"]) == "awaiting_approval"

    fresh = await api.approve(op["operation_id"], as_="bob")
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["status"] == "scheduled"


async def test_amending_needs_a_valid_plan_and_the_right_state(api: Api, rt: Runtime) -> None:
    op = await api.submit(high_risk_request())
    path = f"/operations/{op['operation_id']}/steps"
    unknown = await api.put(path, as_="alice", json={"steps": [{"action": "rm -rf"}]})
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "steps[0].action"
    assert (await api.put(path, as_="alice", json={"steps": []})).status_code == 422
    by_viewer = await api.put(path, as_="viewer", json={"steps": [{"action": "noop"}]})
    assert by_viewer.status_code == 403
    assert await api.status(op["operation_id"]) == "awaiting_approval"

    await api.post(f"/operations/{op['operation_id']}/reject", as_="bob", json={"reason": "no"})
    late = await api.put(path, as_="alice", json={"steps": [{"action": "noop"}]})
    assert late.status_code == 409


async def test_reject_records_the_reason(api: Api) -> None:
    op = await api.submit(high_risk_request())
    path = f"/operations/{op['operation_id']}/reject"
    assert (await api.post(path, as_="bob", json={})).status_code == 422
    assert (await api.post(path, as_="bob", json={"reason": ""})).status_code == 422
    assert (await api.post(path, as_="viewer", json={"reason": "x"})).status_code == 403

    response = await api.post(path, as_="bob", json={"reason": "too wide a blast radius"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "rejected"
    assert body["status_reason"] == "too wide a blast radius"
    last = body["timeline"][-1]
    assert (last["actor"], last["to_status"]) == ("bob", "rejected")
    assert last["details"]["reason"] == "too wide a blast radius"

    again = await api.post(path, as_="bob", json={"reason": "twice"})
    assert again.status_code == 409


async def test_a_blank_reason_is_refused(api: Api) -> None:
    op = await api.submit(high_risk_request())
    path = f"/operations/{op['operation_id']}"
    assert (await api.post(f"{path}/reject", as_="bob", json={"reason": "   "})).status_code == 422
    assert (await api.post(f"{path}/cancel", as_="alice", json={"reason": " "})).status_code == 422
    assert await api.status(op["operation_id"]) == "awaiting_approval"
