from __future__ import annotations

from sqlalchemy import update

from tests.fixtures.api import Api, drive, noop_request
from triadops.runtime import Runtime
from triadops.storage.tables import LedgerRow


async def test_only_the_crown_freezes(api: Api) -> None:
    for who in ("alice", "bob", "judge", "viewer"):
        response = await api.post("/crown/freeze", as_=who, json={"reason": "incident"})
        assert response.status_code == 403, who
    assert (await api.post("/crown/freeze", as_="carol", json={})).status_code == 422
    assert (await api.get("/crown")).json()["frozen"] is False


async def test_a_freeze_holds_work_until_unfrozen(api: Api, rt: Runtime) -> None:
    frozen = await api.post("/crown/freeze", as_="carol", json={"reason": "incident 42"})
    assert frozen.status_code == 200
    assert frozen.json()["frozen"] is True
    assert frozen.json()["frozen_by"] == frozen.json()["by"] == "carol"
    # /ready reads the database now; /health answers from its last probe.
    assert (await api.client.get("/ready")).json()["frozen"] is True
    assert (await api.post("/crown/freeze", as_="edward", json={"reason": "x"})).status_code == 409

    op = await api.submit(noop_request())
    await drive(rt)
    assert await api.status(op["operation_id"]) == "scheduled"

    assert (await api.post("/crown/unfreeze", as_="alice")).status_code == 403
    thawed = await api.post("/crown/unfreeze", as_="carol")
    assert thawed.status_code == 200
    assert thawed.json() == {
        "frozen": False,
        "frozen_by": None,
        "frozen_at": None,
        "reason": None,
        "by": "carol",  # who unfroze: the answer names the mover, as the CLI prints it
    }
    assert (await api.post("/crown/unfreeze", as_="carol")).status_code == 409

    await drive(rt)
    assert await api.status(op["operation_id"]) == "completed"
    events = [e["event"] for e in (await api.get("/audit/log")).json()["items"]]
    assert events.index("freeze") < events.index("unfreeze")


async def test_emergencies_are_acknowledged_by_another_crown(api: Api) -> None:
    op = await api.submit(
        noop_request(operation_type="emergency", constitutional_authority="crown"), as_="carol"
    )
    path = f"/operations/{op['operation_id']}/acknowledge"
    assert op["acknowledgement_deadline"] is not None
    assert (await api.post(path, as_="alice")).status_code == 403
    assert (await api.post(path, as_="carol")).status_code == 403
    response = await api.post(path, as_="edward")
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == "edward"
    assert response.json()["timeline"][-1]["event"] == "acknowledged"
    assert (await api.post(path, as_="edward")).status_code == 409

    ordinary = await api.submit(noop_request())
    not_emergency = await api.post(
        f"/operations/{ordinary['operation_id']}/acknowledge", as_="edward"
    )
    assert not_emergency.status_code == 409


async def test_resolve_needs_a_judge_and_an_operation_in_doubt(api: Api) -> None:
    op = await api.submit(noop_request())
    path = f"/operations/{op['operation_id']}/resolve"
    ruling = {"step_succeeded": True}
    assert (await api.post(path, as_="alice", json=ruling)).status_code == 403
    assert (await api.post(path, as_="judge", json={})).status_code == 422
    response = await api.post(path, as_="judge", json=ruling)
    assert response.status_code == 409
    assert "not in_doubt" in response.json()["detail"]


async def test_the_audit_chain_verifies(api: Api, rt: Runtime) -> None:
    op = await api.submit(noop_request())
    await drive(rt)
    report = (await api.get("/audit/verify")).json()
    assert report["ok"] is True
    assert report["entries_checked"] > 0
    assert report["first_bad_seq"] is None

    entries = (await api.get("/audit/log", params={"operation_id": op["operation_id"]})).json()
    seqs = [e["seq"] for e in entries["items"]]
    assert seqs == sorted(seqs)
    assert {e["operation_id"] for e in entries["items"]} == {op["operation_id"]}
    last_two = (await api.get("/audit/log", params={"limit": 2})).json()["items"]
    assert len(last_two) == 2
    assert last_two[-1]["seq"] == report["entries_checked"]
    assert (await api.get("/audit/log", params={"limit": 0})).status_code == 422


async def test_a_broken_chain_is_reported_not_raised(api: Api, rt: Runtime) -> None:
    await api.submit(noop_request())
    async with rt.session() as session:
        await session.execute(update(LedgerRow).where(LedgerRow.seq == 2).values(actor="mallory"))
        await session.commit()
    response = await api.get("/audit/verify")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert response.json()["first_bad_seq"] == 2
