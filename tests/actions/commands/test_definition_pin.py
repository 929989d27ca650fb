"""Approve what runs: a plan pins each declared command's definition at review."""

from __future__ import annotations

from pathlib import Path

from tests.actions.commands.declared import argv, calls, deploy_spec, open_runtime, with_commands
from tests.fixtures.api import drive
from tests.fixtures.pipeline import BOB, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.ledger import audit
from triadops.constitution.legislative.approvals import approve_operation
from triadops.domain.chain import plan_hash
from triadops.domain.enums import Authority, OperationStatus
from triadops.domain.operations import Plan
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.operations import get_operation


async def _approve(rt: Runtime, operation_id: str) -> None:
    async with rt.session() as session:
        reviewed = (await get_operation(session, operation_id)).plan_hash
        assert reviewed is not None
        await approve_operation(
            session,
            rt.powers,
            operation_id=operation_id,
            approver=BOB,
            authority=Authority.LEGISLATIVE,
            plan_hash=reviewed,
        )
        await lifecycle.commit(session)


async def _verified(rt: Runtime) -> list[str]:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact, report.problem
    return [str(d) for d in report.discrepancies]


async def test_a_command_changed_after_approval_does_not_run(
    settings: Settings, tool: Path, opened: list[Runtime]
) -> None:
    approved = deploy_spec(tool, risk="high")
    before = await open_runtime(opened, with_commands(settings, deploy=approved))
    await before.check_governance(writer="server", adopt=True)
    kept = await submit(before, request([("command.deploy", {"tag": "v1"})]))
    changed = await submit(before, request([("command.deploy", {"tag": "v2"})]))
    assert changed.status is OperationStatus.AWAITING_APPROVAL
    assert changed.plan is not None and changed.plan.steps[0].definition is not None
    await _approve(before, kept.operation_id)
    await drive(before)
    assert (await load(before, kept.operation_id)).status is OperationStatus.COMPLETED
    await _approve(before, changed.operation_id)

    # The server's configuration changes the command (same name, same params) and the
    # server adopts it as its governance, as `triad serve` does on start.
    swapped = deploy_spec(tool, risk="high", argv=argv(tool, "wipe", "{tag}"))
    after = await open_runtime(opened, with_commands(settings, deploy=swapped))
    assert await after.check_governance(writer="server", adopt=True)
    await drive(after)

    done = await load(after, changed.operation_id)
    assert done.status is OperationStatus.FAILED
    reason = "declaration of command.deploy changed since approval; resubmit"
    assert reason in (done.status_reason or "")
    assert reason in (done.steps[0].error or "")
    assert calls(tool) == [["deploy", "v1"]], "the changed declaration ran"
    assert await _verified(after) == []


def test_a_plan_without_declared_actions_hashes_as_before() -> None:
    plan = Plan.model_validate(
        {
            "steps": [
                {
                    "index": 0,
                    "action": "noop",
                    "params": {},
                    "risk": "low",
                    "reversible": True,
                    "idempotent": True,
                    "timeout_s": 1.0,
                    "preview": {"summary": "wait"},
                }
            ],
            "affected_systems": [],
            "rollback_plan": None,
            "validation_criteria": [],
        }
    )

    assert plan.binding()["steps"] == [{"action": "noop", "params": {}}]
    pinned = plan.model_copy(
        update={"steps": [plan.steps[0].model_copy(update={"definition": "d"})]}
    )
    assert pinned.binding()["steps"] == [{"action": "noop", "params": {}, "definition": "d"}]
    assert plan_hash(pinned.binding()) != plan_hash(plan.binding())
