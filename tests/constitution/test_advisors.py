"""Advisors can only make a decision stricter; scripted fakes stand in for the agents here."""

from __future__ import annotations

from dataclasses import replace

from tests.fixtures.fakes import ScriptedCheck, ScriptedPlanAdvisor, ScriptedVerdictAdvisor
from tests.fixtures.pipeline import ALICE, load, request
from triadops.constitution import lifecycle
from triadops.constitution.advisors import PlanAdvice, VerdictAdvice
from triadops.constitution.legislative.service import submit_operation
from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority, OperationStatus, Risk
from triadops.domain.operations import Operation, OperationRequest
from triadops.runtime import Runtime
from triadops.worker.claims import drive_once


async def submit_with(rt: Runtime, powers: Powers, req: OperationRequest) -> Operation:
    """Submit, then let a worker consult the planner (if any) outside the transaction."""
    async with rt.session() as session:
        await submit_operation(session, powers, request=req, requester=ALICE)
        await lifecycle.commit(session)
    if powers.plan_advisor is not None:
        waiting = await load(rt, req.operation_id)
        if waiting.status is OperationStatus.REJECTED:  # the rules refused: nothing to ask
            return waiting
        assert waiting.status is OperationStatus.REVIEWING  # nothing consulted in the commit
        await drive_once(powers, owner="w", only=req.operation_id)
    return await load(rt, req.operation_id)


async def test_a_planner_may_reject_or_raise_the_risk(runtime: Runtime) -> None:
    rejecting = replace(
        runtime.powers, plan_advisor=ScriptedPlanAdvisor(PlanAdvice(reject=True, reason="no"))
    )
    rejected = await submit_with(runtime, rejecting, request())
    assert rejected.status is OperationStatus.REJECTED
    assert rejected.status_reason == "advisor: no"

    raising = replace(
        runtime.powers,
        plan_advisor=ScriptedPlanAdvisor(PlanAdvice(raise_risk_to=Risk.CRITICAL, notes=["hm"])),
    )
    raised = await submit_with(runtime, raising, request())
    assert raised.status is OperationStatus.AWAITING_APPROVAL
    assert raised.planning_result is not None
    assert raised.planning_result.risk_level is Risk.CRITICAL
    assert raised.planning_result.required_approvals == [Authority.CROWN, Authority.LEGISLATIVE]
    assert raised.planning_result.advice == ["hm"]


async def test_a_planner_cannot_lower_the_risk(runtime: Runtime) -> None:
    lowering = replace(
        runtime.powers, plan_advisor=ScriptedPlanAdvisor(PlanAdvice(raise_risk_to=Risk.LOW))
    )
    risky = request(
        [("database.purge_audit_logs", {})],
        affected_systems=["a", "b", "c", "d"],
        rollback_plan="restore",
    )
    op = await submit_with(runtime, lowering, risky)
    assert op.planning_result is not None
    assert op.planning_result.risk_level is Risk.HIGH
    assert op.status is OperationStatus.AWAITING_APPROVAL


async def test_an_evaluator_may_fail_a_pass_but_never_pass_a_failure(runtime: Runtime) -> None:
    failing = replace(
        runtime.powers,
        verdict_advisor=ScriptedVerdictAdvisor(VerdictAdvice(fail=True, reason="smells")),
    )
    op = await submit_with(runtime, failing, request())
    while await drive_once(failing, owner="w"):
        pass
    done = await load(runtime, op.operation_id)
    assert done.status is OperationStatus.ROLLED_BACK
    assert done.validation_result is not None
    assert [f.name for f in done.validation_result.findings if not f.passed] == ["advisor"]

    lenient = replace(
        runtime.powers, verdict_advisor=ScriptedVerdictAdvisor(VerdictAdvice(fail=False))
    )
    lenient.checks.register(ScriptedCheck([{"rows": 10}, {"rows": 9}]))
    measured = await submit_with(runtime, lenient, request(validation_criteria=["test.scripted"]))
    while await drive_once(lenient, owner="w"):
        pass
    failed = await load(runtime, measured.operation_id)
    assert failed.status is OperationStatus.ROLLED_BACK  # the measured failure stands
