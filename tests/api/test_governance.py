"""The governance holes of issue 5, each as the attacker's request through the real API.

Every test asserts the refusal, that nothing changed, and (for the races) that no run of
many ended with an approval on a plan its approver never saw.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.constitution.test_core_paths import plain_day_at
from tests.fixtures.api import Api, drive, high_risk_request, noop_request
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.domain.clock import FakeClock
from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, InvalidRequest
from triadops.runtime import Runtime
from triadops.storage.tables import ApprovalRow, OperationRow, StepRow, TokenRow

GOVERNANCE_TABLES = [
    "tokens",
    "principals",
    "operations",
    "steps",
    "approvals",
    "baselines",
    "crown_state",
    "ledger",
    "ledger_head",
]


async def count(rt: Runtime, table: Any) -> int:
    async with rt.session(read_only=True) as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


def purge(table: str, **overrides: Any) -> dict[str, Any]:
    return noop_request(
        description=f"purge {table}",
        steps=[
            {
                "action": "database.purge_audit_logs",
                "params": {"table": table, "older_than_days": 1},
            }
        ],
        rollback_plan="none needed",
        **overrides,
    )


@pytest.mark.parametrize("table", GOVERNANCE_TABLES)
async def test_an_executive_token_cannot_purge_governance_tables(
    api: Api, rt: Runtime, table: str
) -> None:
    tokens_before = await count(rt, TokenRow)
    for body in (purge(table), purge(table, emergency_priority=True)):
        response = await api.post("/operations", as_="eve", json=body)
        assert response.status_code == 403, response.text
        problem = response.json()
        assert problem["field"] in ("steps[0].params.table", "emergency_priority")
    plain = await api.post("/operations", as_="eve", json=purge(table))
    assert plain.json()["field"] == "steps[0].params.table"
    assert f"triad.{table} is not retention data" in plain.json()["detail"]

    assert await count(rt, OperationRow) == 0
    assert await count(rt, TokenRow) == tokens_before
    assert (await api.get("/operations", as_="carol")).status_code == 200


async def test_only_the_crown_may_ask_for_emergency_treatment(api: Api, rt: Runtime) -> None:
    # Medium risk (a purge of retention data) outside any window would need approval;
    # the flag would have skipped that and run before any acknowledgement.
    body = noop_request(
        steps=[{"action": "database.purge_audit_logs", "params": {"older_than_days": 30}}],
        rollback_plan="restore from backup",
        emergency_priority=True,
    )
    for who in ("eve", "alice"):
        refused = await api.post("/operations", as_=who, json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["field"] == "emergency_priority"
        assert "crown power" in refused.json()["detail"]
    assert await count(rt, OperationRow) == 0

    emergency = await api.submit(
        noop_request(
            operation_type="emergency", constitutional_authority="crown", emergency_priority=True
        ),
        as_="carol",
    )
    assert emergency["status"] == "scheduled"
    assert emergency["acknowledgement_deadline"] is not None


def outside_any_window() -> dict[str, str]:
    """A noon run on a plain day: the amended plan's medium risk then needs a person at any
    hour (inside the daily 02:00 window the rules would approve it themselves)."""
    return {"scheduled_time": plain_day_at(12, 0).isoformat()}


async def test_an_approval_names_the_plan_its_approver_reviewed(api: Api, rt: Runtime) -> None:
    op = await api.submit(high_risk_request(**outside_any_window()))
    path = f"/operations/{op['operation_id']}"
    reviewed = op["plan_hash"]
    amended = await api.put(
        f"{path}/steps",
        as_="alice",
        json={"steps": [{"action": "cache.cleanup", "params": {"max_age_s": 0}}]},
    )
    assert amended.status_code == 200, amended.text

    stale = await api.post(f"{path}/approve", as_="bob", json={"plan_hash": reviewed})
    assert stale.status_code == 409
    assert stale.json()["field"] == "plan_hash"
    after = (await api.get(path)).json()
    assert after["status"] in ("awaiting_approval", "scheduled")
    assert after["approvals"] == []

    missing = await api.post(f"{path}/approve", as_="bob", json={})
    assert missing.status_code == 422
    assert missing.json()["field"] == "plan_hash"
    malformed = await api.post(f"{path}/approve", as_="bob", json={"plan_hash": "abc"})
    assert malformed.status_code == 422


async def test_approve_and_amend_races_never_approve_an_unseen_plan(api: Api, rt: Runtime) -> None:
    """Approve (of the reviewed plan) and amend (to a cache wipe) race, fifteen times."""
    wipe = {"steps": [{"action": "cache.cleanup", "params": {"max_age_s": 0}}]}
    for _ in range(15):
        op = await api.submit(high_risk_request(**outside_any_window()))
        path = f"/operations/{op['operation_id']}"
        approve, amend = await asyncio.gather(
            api.post(f"{path}/approve", as_="bob", json={"plan_hash": op["plan_hash"]}),
            api.put(f"{path}/steps", as_="alice", json=wipe),
        )
        assert {approve.status_code, amend.status_code} <= {200, 409}, (approve.text, amend.text)
        final = (await api.get(path)).json()
        for approval in final["approvals"]:
            assert approval["plan_hash"] == op["plan_hash"]
        if final["plan"]["steps"][0]["action"] == "cache.cleanup":
            # The wipe was never approved by anyone: it cannot be scheduled.
            assert final["status"] == "awaiting_approval", final
    await drive(rt)
    async with rt.session(read_only=True) as session:
        ran = await session.execute(
            select(StepRow.operation_id).where(
                StepRow.action == "cache.cleanup", StepRow.started_at.is_not(None)
            )
        )
        assert ran.all() == []


async def test_whoever_wrote_the_plan_cannot_approve_it(api: Api) -> None:
    op = await api.submit(high_risk_request())
    path = f"/operations/{op['operation_id']}"
    steps = {"steps": [{"action": "database.purge_audit_logs", "params": {"older_than_days": 7}}]}
    amended = await api.put(f"{path}/steps", as_="bob", json=steps)
    assert amended.status_code == 200, amended.text
    assert amended.json()["status"] == "awaiting_approval"

    own = await api.approve(op["operation_id"], as_="bob")
    assert own.status_code == 403
    assert "wrote the current plan" in own.json()["detail"]
    assert (await api.get(path)).json()["approvals"] == []

    other = await api.approve(op["operation_id"], as_="dave")
    assert other.status_code == 200, other.text
    assert other.json()["status"] == "scheduled"


async def test_one_principal_cannot_hold_both_critical_approvals(api: Api, rt: Runtime) -> None:
    async with rt.session() as session:
        _, bob_crown = await create_token(
            session, name="bob-crown", roles=[Role.CROWN], by="test", principal="Bob"
        )
        await lifecycle.commit(session)
    api.tokens["bob-crown"] = bob_crown
    critical = {**high_risk_request(), "rollback_plan": None}
    op = await api.submit(critical)
    assert op["planning_result"]["required_approvals"] == ["legislative", "crown"]

    assert (await api.approve(op["operation_id"], as_="bob")).status_code == 200
    second = await api.approve(op["operation_id"], as_="bob-crown", authority="crown")
    assert second.status_code == 409
    assert "bob already approved" in second.json()["detail"]
    shown = (await api.get(f"/operations/{op['operation_id']}")).json()
    assert shown["status"] == "awaiting_approval"
    assert [a["approver"] for a in shown["approvals"]] == ["bob"]

    crown = await api.approve(op["operation_id"], as_="carol", authority="crown")
    assert crown.json()["status"] == "scheduled"


async def test_principal_names_are_normalised_and_reserved_names_refused(
    api: Api, rt: Runtime
) -> None:
    bad_names = ["", "   ", "x" * 101, "legislative:rules", "crown", "al ice", "ali\x1bce"]
    async with rt.session() as session:
        for name in bad_names:
            with pytest.raises(InvalidRequest, match=r"^name: "):
                await create_token(session, name=name, roles=[Role.VIEWER], by="test")
        for name in ("Alice", "alice ", " ALICE"):
            with pytest.raises(Conflict, match="'alice' already exists"):
                await create_token(session, name=name, roles=[Role.LEGISLATIVE], by="test")
        _, second = await create_token(
            session, name="alice-laptop", roles=[Role.LEGISLATIVE], by="test", principal="Alice "
        )
        await lifecycle.commit(session)
    api.tokens["alice-laptop"] = second

    op = await api.submit(high_risk_request(requested_by=" ALICE"))
    assert op["request"]["requested_by"] == "alice"
    own = await api.approve(op["operation_id"], as_="alice-laptop")
    assert own.status_code == 403
    assert "alice requested" in own.json()["detail"]
    impostor = await api.post(
        "/operations", as_="bob", json=noop_request(requested_by="legislative:rules")
    )
    assert impostor.status_code == 422
    assert impostor.json()["field"] == "requested_by"


async def test_an_approval_after_its_deadline_is_refused(
    api: Api, rt: Runtime, clock: FakeClock
) -> None:
    op = await api.submit(high_risk_request())
    clock.advance(rt.settings.approval_timeout_s + 1)
    late = await api.approve(op["operation_id"], as_="bob")
    assert late.status_code == 409
    assert "approval deadline" in late.json()["detail"]
    shown = (await api.get(f"/operations/{op['operation_id']}")).json()
    assert shown["approvals"] == []
    assert shown["status"] == "awaiting_approval"
    assert await count(rt, ApprovalRow) == 0


async def refusals(api: Api) -> list[dict[str, Any]]:
    entries = (await api.get("/audit/log", params={"limit": 1000})).json()["items"]
    return [e for e in entries if e["event"] == "refused"]


async def test_refused_governance_actions_are_on_the_record(api: Api) -> None:
    assert (await api.post("/operations", as_="eve", json=purge("tokens"))).status_code == 403
    op = await api.submit(high_risk_request())
    assert (await api.approve(op["operation_id"], as_="alice")).status_code == 403
    assert (await api.approve(op["operation_id"], as_="viewer")).status_code == 403
    assert (await api.post("/crown/freeze", as_="bob", json={"reason": "x"})).status_code == 403

    recorded = [
        (e["actor"], e["details"]["action"], e["details"].get("operation"))
        for e in await refusals(api)
    ]
    assert recorded == [
        ("eve", "POST /operations", None),
        ("alice", "POST /operations/{operation_id}/approve", op["operation_id"]),
        ("viewer", "POST /operations/{operation_id}/approve", op["operation_id"]),
        ("bob", "POST /crown/freeze", None),
    ]
    assert "not retention data" in (await refusals(api))[0]["details"]["reason"]
    # A read that is refused is not a governance action; a 404 is not a refusal.
    assert (await api.get("/operations", as_="viewer")).status_code == 200
    assert len(await refusals(api)) == 4
