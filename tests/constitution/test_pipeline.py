"""The four branches end to end, in one process, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.pipeline import ALICE, BOB, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.legislative.service import preview_operation, submit_operation
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.errors import Forbidden, InvalidRequest
from triadops.runtime import Runtime
from triadops.storage.ledger import select_operation_entries
from triadops.worker.claims import drive_once


async def transitions(rt: Runtime, operation_id: str) -> list[tuple[str, str | None]]:
    async with rt.session() as session:
        rows = await select_operation_entries(session, operation_id)
    return [(r.actor.split(":")[0], r.to_status) for r in rows if r.event == "transition"]


async def test_low_risk_operation_passes_all_four_branches(runtime: Runtime) -> None:
    op = await submit(runtime, request())
    assert op.status is OperationStatus.SCHEDULED
    assert op.planning_result is not None and op.planning_result.risk_level == "low"

    assert await drive_once(runtime.powers, owner="w") == 1
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.COMPLETED
    assert op.steps[0].status is StepStatus.SUCCEEDED and op.steps[0].duration_s is not None
    assert op.implementation_result is not None and op.implementation_result.success
    assert op.validation_result is not None and op.validation_result.passed
    assert op.constitutional_compliance
    assert await transitions(runtime, op.operation_id) == [
        ("legislative", "reviewing"),
        ("legislative", "approved"),
        ("legislative", "scheduled"),
        ("executive", "executing"),
        ("executive", "validating"),
        ("judicial", "completed"),
    ]


async def test_procedure_runs_with_its_criteria_measured(runtime: Runtime) -> None:
    op = await submit(runtime, request(procedure="database_optimization"))
    await drive_once(runtime.powers, owner="w")
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.COMPLETED, op.status_reason
    assert [s.action for s in op.steps] == [
        "database.vacuum_analyze",
        "database.reindex",
    ]
    assert op.validation_result is not None
    names = {f.name for f in op.validation_result.findings}
    assert {"no_data_loss", "performance_within_baseline"} <= names


async def test_failed_step_rolls_back_completed_steps_in_reverse(
    runtime: Runtime, tmp_path: Path
) -> None:
    marker = str(tmp_path / "home" / "drills" / "marks")
    steps = [
        ("noop", {"marker": marker}),
        ("noop", {"marker": marker}),
        ("noop", {"fail": True}),
        ("noop", {"marker": marker}),
    ]
    op = await submit(runtime, request(steps))
    await drive_once(runtime.powers, owner="w")
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.ROLLED_BACK
    assert "step 2 (noop) failed" in (op.status_reason or "")
    assert [s.status for s in op.steps] == [
        StepStatus.ROLLED_BACK,
        StepStatus.ROLLED_BACK,
        StepStatus.FAILED,
        StepStatus.PENDING,
    ]
    lines = Path(marker).read_text().splitlines()
    keys = [s.split(":")[1] for s in lines if not s.startswith("rollback")]
    undone = [s.split(":")[1] for s in lines if s.startswith("rollback")]
    assert keys == ["0", "1"] and undone == ["1", "0"]


async def test_failed_first_step_fails_without_rollback(runtime: Runtime) -> None:
    op = await submit(runtime, request([("noop", {"fail": True})]))
    await drive_once(runtime.powers, owner="w")
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.FAILED
    assert op.implementation_result is not None
    assert op.implementation_result.issues_encountered == ["step 0 noop: noop asked to fail"]


async def test_failed_rollback_leaves_operation_failed_with_reason(runtime: Runtime) -> None:
    op = await submit(
        runtime, request([("noop", {"fail_rollback": True}), ("noop", {"fail": True})])
    )
    await drive_once(runtime.powers, owner="w")
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.FAILED
    assert "rollback failed" in (op.status_reason or "")
    assert op.steps[0].status is StepStatus.ROLLBACK_FAILED


async def test_authority_that_does_not_fit_the_sop_is_rejected_with_reason(
    runtime: Runtime,
) -> None:
    req = request(operation_type="emergency", constitutional_authority="executive")
    op = await submit(runtime, req)
    assert op.status is OperationStatus.REJECTED
    assert "SOP-002" in (op.status_reason or "") and "crown" in (op.status_reason or "")
    assert not op.constitutional_compliance


async def test_bad_requests_change_nothing(runtime: Runtime) -> None:
    bad = [
        request([("no.such.action", {})]),
        request([("noop", {"sleep_s": "soon"})]),
        request(validation_criteria=["vibes_are_good"]),
        request(procedure="nonexistent"),
    ]
    fields = ["steps[0].action", "steps[0].params.sleep_s", "validation_criteria[0]", "procedure"]
    for req, field in zip(bad, fields, strict=True):
        async with runtime.session() as session:
            with pytest.raises(InvalidRequest) as caught:
                await submit_operation(session, runtime.powers, request=req, requester=ALICE)
            assert caught.value.field == field
    async with runtime.session() as session:
        with pytest.raises(InvalidRequest, match=r"steps\[0\]: params.sleep_s"):
            await submit_operation(session, runtime.powers, request=bad[1], requester=ALICE)
    from triadops.storage.listing import list_operations

    async with runtime.session() as session:
        assert await list_operations(session) == []


async def test_requester_must_be_the_caller_and_hold_the_authority(runtime: Runtime) -> None:
    async with runtime.session() as session:
        with pytest.raises(Forbidden, match="on behalf of alice"):
            await submit_operation(session, runtime.powers, request=request(), requester=BOB)
        req = request(requested_by="bob")
        with pytest.raises(Forbidden, match="executive role"):
            await submit_operation(session, runtime.powers, request=req, requester=BOB)


async def test_dry_run_previews_without_storing(runtime: Runtime) -> None:
    async with runtime.session() as session:
        plan, finding = await preview_operation(
            session, runtime.powers, request=request(procedure="database_optimization")
        )
    assert [s.preview.summary for s in plan.steps]
    assert all(s.preview.touches for s in plan.steps)
    assert finding.approved and finding.risk_level == "low"
    async with runtime.session() as session:
        from triadops.storage.listing import list_operations

        assert await list_operations(session) == []


async def test_high_risk_waits_for_approval(runtime: Runtime) -> None:
    systems = ["db1", "db2", "db3", "db4"]
    op = await submit(
        runtime, request([("database.purge_audit_logs", {})], affected_systems=systems)
    )
    assert op.status is OperationStatus.AWAITING_APPROVAL
    assert op.planning_result is not None
    assert op.planning_result.risk_level == "critical"
    assert any("blast radius" in r for r in op.planning_result.risk_reasons)
    assert any("irreversible" in r for r in op.planning_result.risk_reasons)
    assert await drive_once(runtime.powers, owner="w") == 0
    async with runtime.session() as session:
        assert op.approval_deadline is not None
        await lifecycle.commit(session)
