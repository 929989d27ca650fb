"""Every allowed and forbidden transition, and the core paths no other test drives."""

from __future__ import annotations

import asyncio
import contextlib
from itertools import product

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.fakes import ProbedAction
from tests.fixtures.pipeline import load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.sops import load_catalogue
from triadops.domain.clock import FakeClock
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.errors import Conflict
from triadops.runtime import Runtime
from triadops.storage.tables import OperationRow, StepRow
from triadops.worker.claims import drive_once

OPERATION_PAIRS = list(product(OperationStatus, OperationStatus))
STEP_PAIRS = list(product(StepStatus, StepStatus))
SOPS = load_catalogue(None)

# The lifecycle written out by hand, edge by edge, apart from the table under test: a change
# to `lifecycle`'s table must change these too, on purpose.
OPERATION_EDGES = {
    ("submitted", "reviewing"),
    ("submitted", "cancelled"),
    ("reviewing", "approved"),
    ("reviewing", "awaiting_approval"),
    ("reviewing", "rejected"),
    ("awaiting_approval", "approved"),
    ("awaiting_approval", "rejected"),
    ("awaiting_approval", "cancelled"),
    ("awaiting_approval", "reviewing"),
    ("approved", "scheduled"),
    ("approved", "cancelled"),
    ("approved", "reviewing"),
    ("scheduled", "executing"),
    ("scheduled", "cancelled"),
    ("scheduled", "reviewing"),
    ("scheduled", "failed"),
    ("executing", "validating"),
    ("executing", "failed"),
    ("executing", "in_doubt"),
    ("in_doubt", "executing"),
    ("in_doubt", "failed"),
    ("validating", "completed"),
    ("validating", "failed"),
    ("failed", "rolling_back"),
    ("rolling_back", "rolled_back"),
    ("rolling_back", "failed"),
}
STEP_EDGES = {
    ("pending", "running"),
    ("running", "running"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("succeeded", "rolling_back"),
    ("succeeded", "skipped"),
    ("rolling_back", "rolling_back"),
    ("rolling_back", "rolled_back"),
    ("rolling_back", "rollback_failed"),
}


def test_the_written_edges_name_real_states() -> None:
    operation_states = {s.value for s in OperationStatus}
    step_states = {s.value for s in StepStatus}
    assert {s for edge in OPERATION_EDGES for s in edge} <= operation_states
    assert {s for edge in STEP_EDGES for s in edge} <= step_states


@pytest.mark.parametrize(("source", "target"), OPERATION_PAIRS, ids=lambda s: s.value)
def test_operation_transitions_follow_the_lifecycle(
    source: OperationStatus, target: OperationStatus
) -> None:
    row = OperationRow(id="op-t", status=source.value)
    session = AsyncSession()  # no database: a transition only queues its ledger entry
    # Out of review the SOPs in force are named (`legislative/sop.py`); a row without a
    # plan has nothing for them to hold. A start names the blackouts in force (none here).
    attempt = lifecycle.Attempt(row, "test", sops=SOPS, blackouts=())
    if (source.value, target.value) in OPERATION_EDGES:
        lifecycle.transition(session, attempt, target)
        assert row.status == target.value
        assert session.info["triad_ledger_pending"][-1]["to_status"] == target.value
    else:
        with pytest.raises(Conflict, match=f"is {source.value}; it cannot become"):
            lifecycle.transition(session, attempt, target)
        assert row.status == source.value
        assert not session.info.get("triad_ledger_pending")


@pytest.mark.parametrize(("source", "target"), STEP_PAIRS, ids=lambda s: s.value)
def test_step_transitions_follow_the_lifecycle(source: StepStatus, target: StepStatus) -> None:
    step = StepRow(operation_id="op-s", index=0, action="noop", status=source.value)
    session = AsyncSession()
    if (source.value, target.value) in STEP_EDGES:
        lifecycle.step_transition(
            session,
            lifecycle.StepAttempt(step, "test"),
            target,
            event="step_ruled",
            details={"took_effect": True, "by": "test"},
        )
        assert step.status == target.value
        assert session.info["triad_ledger_pending"][-1]["details"]["status"] == target.value
    else:
        with pytest.raises(Conflict, match=f"step 0 of op-s is {source.value}; it cannot become"):
            lifecycle.step_transition(
                session,
                lifecycle.StepAttempt(step, "test"),
                target,
                event="step_ruled",
                details={"took_effect": True, "by": "test"},
            )
        assert step.status == source.value
        assert not session.info.get("triad_ledger_pending")


def test_a_forbidden_step_transition_is_refused() -> None:
    step = StepRow(operation_id="op-s", index=0, action="noop", status=StepStatus.PENDING.value)
    session = AsyncSession()
    with pytest.raises(Conflict, match="step 0 of op-s is pending; it cannot become"):
        lifecycle.step_transition(
            session,
            lifecycle.StepAttempt(step, "test"),
            StepStatus.SUCCEEDED,
            event="step_succeeded",
        )
    assert step.status == StepStatus.PENDING.value
    assert not session.info.get("triad_ledger_pending")


@pytest.mark.parametrize("took_effect", [True, False])
async def test_a_probe_decides_an_interrupted_step(
    runtime: Runtime, clock: FakeClock, took_effect: bool
) -> None:
    action = ProbedAction()
    runtime.actions.register(action)
    op = await submit(
        runtime,
        request([("test.probed", {"took_effect": took_effect})], rollback_plan="by hand"),
    )
    assert op.status is OperationStatus.SCHEDULED
    first = asyncio.create_task(drive_once(runtime.powers, owner="dies"))
    await action.running.wait()
    first.cancel()  # the worker dies mid-step: its start is committed, its end never is
    with contextlib.suppress(asyncio.CancelledError):
        await first
    assert (await load(runtime, op.operation_id)).steps[0].status is StepStatus.RUNNING

    clock.advance(runtime.settings.lease_s + 1)
    await drive_once(runtime.powers, owner="heir")
    await drive_once(runtime.powers, owner="heir")

    done = await load(runtime, op.operation_id)
    assert action.runs == 1  # never run twice
    if took_effect:
        assert done.status is OperationStatus.COMPLETED
        assert done.steps[0].status is StepStatus.SUCCEEDED
    else:
        assert done.status is OperationStatus.FAILED
        assert done.steps[0].status is StepStatus.FAILED
        assert "did not take effect" in (done.status_reason or "")


@pytest.mark.parametrize(
    ("step_states", "rolls_back"),
    [
        ([StepStatus.FAILED], False),
        ([StepStatus.SUCCEEDED, StepStatus.FAILED], True),
        ([StepStatus.ROLLING_BACK, StepStatus.PENDING], True),
        ([StepStatus.SKIPPED, StepStatus.ROLLED_BACK], False),
    ],
)
def test_one_fail_path_rolls_back_whatever_took_effect(
    step_states: list[StepStatus], rolls_back: bool
) -> None:
    row = OperationRow(id="op-f", status=OperationStatus.EXECUTING.value)
    steps = [
        StepRow(operation_id="op-f", index=i, action="noop", status=state.value)
        for i, state in enumerate(step_states)
    ]
    session = AsyncSession()
    assert lifecycle.fail(session, row, steps, actor="a", reason="r", undo_actor="u") is rolls_back
    expected = OperationStatus.ROLLING_BACK if rolls_back else OperationStatus.FAILED
    assert row.status == expected.value
    entries = session.info["triad_ledger_pending"]
    assert [e["to_status"] for e in entries] == ["failed", "rolling_back"][: 1 + rolls_back]
