from __future__ import annotations

import asyncio

from tests.fixtures.api import Api, drive, noop_request
from triadops.runtime import Runtime

LIFECYCLE = [
    "submitted",
    "reviewing",
    "approved",
    "scheduled",
    "executing",
    "validating",
    "completed",
]


async def test_a_low_risk_noop_is_scheduled_then_completes(api: Api, rt: Runtime) -> None:
    created = await api.submit(noop_request())
    assert created["status"] == "scheduled"
    assert created["request"]["requested_by"] == "alice"
    assert created["plan"]["steps"][0]["preview"]["summary"].startswith("wait 0 s")
    assert created["planning_result"]["risk_level"] == "low"

    await drive(rt)

    op = (await api.get(f"/operations/{created['operation_id']}")).json()
    assert op["status"] == "completed"
    assert op["constitutional_compliance"] is True
    assert op["validation_result"]["passed"] is True
    assert op["implementation_result"]["success"] is True
    assert [s["status"] for s in op["steps"]] == ["succeeded"]
    assert op["steps"][0]["started_at"] and op["steps"][0]["ended_at"]
    reached = [e["to_status"] for e in op["timeline"] if e["event"] in ("submitted", "transition")]
    assert reached == LIFECYCLE
    assert all(e["operation_id"] == op["operation_id"] for e in op["timeline"])


async def test_a_given_operation_id_and_requester_are_kept(api: Api) -> None:
    created = await api.submit(noop_request(operation_id="op-mine-1", requested_by="alice"))
    assert created["operation_id"] == "op-mine-1"
    again = await api.post("/operations", as_="alice", json=noop_request(operation_id="op-mine-1"))
    assert again.status_code == 409
    assert again.json()["field"] == "operation_id"


async def test_dry_run_shows_the_plan_and_stores_nothing(api: Api) -> None:
    before = (await api.get("/operations")).json()["items"]
    ledger_before = (await api.get("/audit/log")).json()["items"]
    response = await api.post("/operations?dry_run=true", as_="alice", json=noop_request())
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    assert body["plan"]["steps"][0]["action"] == "noop"
    assert body["plan"]["steps"][0]["preview"]["summary"]
    assert body["planning_result"]["approved"] is True
    assert (await api.get("/operations")).json()["items"] == before
    assert (await api.get("/audit/log")).json()["items"] == ledger_before


async def test_list_filters_by_status_and_pages(api: Api, rt: Runtime) -> None:
    first = await api.submit(noop_request(description="first"))
    await drive(rt)
    second = await api.submit(noop_request(description="second"))

    everything = (await api.get("/operations")).json()["items"]
    assert [o["operation_id"] for o in everything] == [
        second["operation_id"],
        first["operation_id"],
    ]
    assert everything[0]["risk_level"] == "low"
    assert everything[0]["description"] == "second"

    done = (await api.get("/operations", params={"status": "completed"})).json()["items"]
    assert [o["operation_id"] for o in done] == [first["operation_id"]]
    both = await api.get("/operations", params=[("status", "completed"), ("status", "scheduled")])
    assert len(both.json()["items"]) == 2
    page = (await api.get("/operations", params={"limit": 1, "offset": 1})).json()
    assert [o["operation_id"] for o in page["items"]] == [first["operation_id"]]


async def test_list_rejects_bad_query_parameters(api: Api) -> None:
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"status": "sleeping"}):
        response = await api.get("/operations", params=params)
        assert response.status_code == 422, params
        assert response.json()["field"] in ("limit", "offset", "status[0]", "status")


async def test_unknown_operations_are_404(api: Api) -> None:
    response = await api.get("/operations/op-nothing")
    assert response.status_code == 404
    assert response.json()["field"] == "operation_id"
    assert "op-nothing" in response.json()["detail"]
    approval = {"plan_hash": "0" * 64}
    assert (
        await api.post("/operations/op-nothing/approve", as_="carol", json=approval)
    ).status_code == 404
    for verb in ("cancel", "acknowledge"):
        assert (await api.post(f"/operations/op-nothing/{verb}", as_="carol")).status_code == 404
    body = {"steps": [{"action": "noop"}]}
    assert (
        await api.put("/operations/op-nothing/steps", as_="alice", json=body)
    ).status_code == 404
    assert (await api.get("/nowhere")).status_code == 404


async def test_the_requester_cancels_a_scheduled_operation(api: Api, rt: Runtime) -> None:
    op = await api.submit(noop_request())
    response = await api.post(
        f"/operations/{op['operation_id']}/cancel", as_="alice", json={"reason": "not today"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["status_reason"] == "not today"
    await drive(rt)
    assert await api.status(op["operation_id"]) == "cancelled"
    again = await api.post(f"/operations/{op['operation_id']}/cancel", as_="alice")
    assert again.status_code == 409


async def test_only_the_requester_or_the_crown_cancels(api: Api) -> None:
    op = await api.submit(noop_request())
    assert (
        await api.post(f"/operations/{op['operation_id']}/cancel", as_="bob")
    ).status_code == 403
    response = await api.post(f"/operations/{op['operation_id']}/cancel", as_="carol")
    assert response.status_code == 200
    assert response.json()["status_reason"] == "cancelled by carol"


async def test_a_submission_answers_with_exactly_what_it_stored(api: Api) -> None:
    """The 201 is built from the committed rows and links, not read back: it must match them."""
    created = await api.submit(noop_request())
    stored = (await api.get(f"/operations/{created['operation_id']}")).json()
    assert created["timeline"], "the submission's own ledger entries are missing"
    # Nothing drove it yet, so what was committed is what is stored, entry for entry.
    assert created == stored
    assert [e["event"] for e in created["timeline"]][:2] == ["submitted", "transition"]
    assert len({e["seq"] for e in created["timeline"]}) == len(created["timeline"])


async def test_submissions_sharing_a_commit_each_answer_with_their_own_entries(api: Api) -> None:
    created = await asyncio.gather(*(api.submit(noop_request()) for _ in range(12)))
    for one in created:
        stored = (await api.get(f"/operations/{one['operation_id']}")).json()
        assert one == stored
