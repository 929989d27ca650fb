"""Separation of duties, plan-bound approvals and approval deadlines."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from tests.fixtures.pipeline import ALICE, BOB, CAROL, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.legislative.approvals import approve_operation, reject_operation
from triadops.constitution.legislative.service import amend_operation
from triadops.domain.clock import FakeClock
from triadops.domain.enums import Authority, OperationStatus, Role
from triadops.domain.errors import Conflict, Forbidden
from triadops.domain.identity import Identity
from triadops.domain.operations import StepSpec
from triadops.runtime import Runtime
from triadops.storage.operations import get_operation
from triadops.storage.tables import OperationRow
from triadops.worker.claims import drive_once, keep_house

SYSTEMS = ["a", "b", "c", "d"]


def high_risk(**fields: object) -> object:
    # medium action, blast radius over 3, with a rollback plan: high (legislative approval).
    return request(
        [("database.purge_audit_logs", {})],
        affected_systems=SYSTEMS,
        rollback_plan="restore audit_logs from the hourly backup",
        **fields,
    )


def critical() -> object:
    return request([("database.purge_audit_logs", {})], affected_systems=SYSTEMS)


async def approve(rt: Runtime, op_id: str, who: Identity, authority: Authority) -> OperationStatus:
    async with rt.session() as session:
        reviewed = (await get_operation(session, op_id)).plan_hash
        assert reviewed is not None
        row = await approve_operation(
            session,
            rt.powers,
            operation_id=op_id,
            approver=who,
            authority=authority,
            plan_hash=reviewed,
        )
        await lifecycle.commit(session)
        return OperationStatus(row.status)


async def test_requester_cannot_approve_their_own_request(runtime: Runtime) -> None:
    op = await submit(runtime, high_risk())
    assert op.status is OperationStatus.AWAITING_APPROVAL
    with pytest.raises(Forbidden, match=r"alice requested .* cannot approve"):
        await approve(runtime, op.operation_id, ALICE, Authority.LEGISLATIVE)
    assert await approve(runtime, op.operation_id, BOB, Authority.LEGISLATIVE) == "scheduled"
    await drive_once(runtime.powers, owner="w")
    assert (await load(runtime, op.operation_id)).status is OperationStatus.COMPLETED


async def test_approver_needs_the_role_it_approves_under(runtime: Runtime) -> None:
    op = await submit(runtime, high_risk())
    with pytest.raises(Forbidden, match="does not hold the legislative role"):
        await approve(runtime, op.operation_id, CAROL, Authority.LEGISLATIVE)


async def test_critical_needs_legislative_and_crown_from_different_people(
    runtime: Runtime,
) -> None:
    op = await submit(runtime, critical())
    assert op.planning_result is not None
    assert op.planning_result.required_approvals == [Authority.LEGISLATIVE, Authority.CROWN]
    both = Identity(name="dora", roles=frozenset({Role.LEGISLATIVE, Role.CROWN}))
    assert await approve(runtime, op.operation_id, both, Authority.LEGISLATIVE) == (
        "awaiting_approval"
    )
    with pytest.raises(Conflict, match="already approved"):
        await approve(runtime, op.operation_id, both, Authority.CROWN)
    assert await approve(runtime, op.operation_id, CAROL, Authority.CROWN) == "scheduled"


async def test_plan_edit_voids_approvals(runtime: Runtime) -> None:
    op = await submit(runtime, critical())
    await approve(runtime, op.operation_id, BOB, Authority.LEGISLATIVE)
    async with runtime.session() as session:
        await amend_operation(
            session,
            runtime.powers,
            operation_id=op.operation_id,
            steps=[StepSpec(action="database.purge_audit_logs", params={"older_than_days": 1})],
            by=ALICE,
        )
        await lifecycle.commit(session)
    amended = await load(runtime, op.operation_id)
    assert amended.status is OperationStatus.AWAITING_APPROVAL
    assert amended.plan_hash != op.plan_hash
    # Bob's approval was for the old plan: the crown's alone is not enough now.
    assert await approve(runtime, op.operation_id, CAROL, Authority.CROWN) == "awaiting_approval"
    assert await approve(runtime, op.operation_id, BOB, Authority.LEGISLATIVE) == "scheduled"


async def test_plan_changed_behind_the_approvals_back_is_not_run(runtime: Runtime) -> None:
    op = await submit(runtime, high_risk())
    await approve(runtime, op.operation_id, BOB, Authority.LEGISLATIVE)
    async with runtime.session() as session:
        await session.execute(
            update(OperationRow)
            .where(OperationRow.id == op.operation_id)
            .values(plan_hash="f" * 64)
        )
        await session.commit()
    await drive_once(runtime.powers, owner="w")
    op = await load(runtime, op.operation_id)
    # The stored plan no longer hashes to what was approved: tampering, so nothing runs
    # (not even a rollback) and a person must look.
    assert op.status is OperationStatus.FAILED
    assert op.status_reason == (
        "refused to run: the stored plan does not hash to the approved plan hash"
    )
    assert op.steps[0].started_at is None


async def test_unanswered_approval_is_rejected_at_its_deadline(
    runtime: Runtime, clock: FakeClock
) -> None:
    op = await submit(runtime, high_risk())
    await keep_house(runtime.powers)
    assert (await load(runtime, op.operation_id)).status is OperationStatus.AWAITING_APPROVAL
    clock.advance(runtime.settings.approval_timeout_s + 1)
    await keep_house(runtime.powers)
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.REJECTED
    assert "approval deadline" in (op.status_reason or "")


async def test_reject_records_the_reason(runtime: Runtime) -> None:
    op = await submit(runtime, high_risk())
    async with runtime.session() as session:
        await reject_operation(session, operation_id=op.operation_id, by=BOB, reason="not now")
        await lifecycle.commit(session)
    op = await load(runtime, op.operation_id)
    assert (op.status, op.status_reason) == (OperationStatus.REJECTED, "not now")


def test_every_approval_rule_says_why_it_exists() -> None:
    from triadops.constitution.legislative.approvals import APPROVAL_RULES

    names = [rule.__name__ for rule in APPROVAL_RULES]
    assert names == [
        "AwaitingApproval",
        "NotTheRequester",
        "NotTheAuthor",
        "ReviewedPlanIsCurrent",
        "BeforeTheDeadline",
        "HoldsTheAuthority",
        "AuthorityIsRequired",
        "OneApprovalPerPrincipal",
    ]
    assert all((rule.__doc__ or "").strip() and rule.reason.strip() for rule in APPROVAL_RULES)
    # The lifecycle enforces them on the edge the last approval takes, in the same order.
    on_edge = lifecycle.OPERATIONS.rules_for(
        OperationStatus.AWAITING_APPROVAL, OperationStatus.APPROVED
    )
    assert [type(rule) for rule in on_edge] == list(APPROVAL_RULES)
