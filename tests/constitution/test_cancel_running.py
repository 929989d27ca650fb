"""A cancel reaches a running step: an interruptible one stops there, any other finishes.

Issue 16: the crown's cancel did not cut a running step short. With the real worker, a
noop sleeping an hour is cancelled: the operation can only end within the test's bound if
the sleep was interrupted. Waits are on conditions, never on guessed durations.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.constitution.test_slots import running_worker, slot_settings, until
from tests.fixtures.pipeline import ALICE, CAROL, load, request, submit
from triadops.actions.base import RUNS_TO_ITS_END
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import cancel_answer, cancel_operation
from triadops.constitution.ledger import audit
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.identity import Identity
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.worker.claims import drive_once

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A worker with four slots."""
    return slot_settings(database_url, tmp_path)


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[None]:
    """The real worker loop, in this process, until the test ends."""
    async for _ in running_worker(runtime):
        yield


def marker(runtime: Runtime, name: str) -> Path:
    return runtime.settings.home / "drills" / name


async def running(runtime: Runtime, operation_id: str, index: int) -> bool:
    op = await load(runtime, operation_id)
    return op.steps[index].status is StepStatus.RUNNING


async def cancel(runtime: Runtime, operation_id: str, by: Identity) -> str:
    async with runtime.session() as session:
        row = await cancel_operation(session, operation_id=operation_id, by=by)
        answer = await cancel_answer(session, row, actions=runtime.powers.actions)
        await lifecycle.commit(session)
    return answer


async def verified(runtime: Runtime) -> None:
    async with runtime.session(read_only=True) as session:
        report = await audit.verify(session)  # walks the chain and replays it on the rows
    assert report.ok, (report.problem, report.discrepancies)


@pytest.mark.parametrize("who", [ALICE, CAROL], ids=["requester", "crown"])
async def test_a_cancel_stops_a_step_sleeping_an_hour_and_rolls_back_what_ran(
    runtime: Runtime, worker: None, who: Identity
) -> None:
    done, sleeping = marker(runtime, "done"), marker(runtime, "sleeping")
    op = await submit(
        runtime,
        request(
            [
                ("noop", {"marker": str(done)}),
                ("noop", {"sleep_s": 3600, "marker": str(sleeping)}),
            ]
        ),
    )
    await until(runtime, lambda: running(runtime, op.operation_id, 1))

    answer = await cancel(runtime, op.operation_id, who)
    assert answer.startswith("stopping now: step 1 (noop) is interrupted")

    async def stopped() -> bool:
        return (await load(runtime, op.operation_id)).status.is_final

    await until(runtime, stopped)
    after = await load(runtime, op.operation_id)
    assert after.status is OperationStatus.ROLLED_BACK, after.status_reason
    assert after.status_reason == f"cancelled by {who.name} during step 1 (noop)"
    assert [s.status for s in after.steps] == [StepStatus.ROLLED_BACK, StepStatus.CANCELLED]
    assert after.steps[1].error == "noop was stopped by the operation's cancel"
    # The first step's rollback ran; the interrupted one is not undone (it unwound itself).
    ran, undone = done.read_text().splitlines()
    assert undone == f"rollback {ran}"
    assert len(sleeping.read_text().splitlines()) == 1  # started once, never undone
    await verified(runtime)


async def test_a_lone_interrupted_step_fails_the_operation_with_nothing_to_undo(
    runtime: Runtime, worker: None
) -> None:
    op = await submit(runtime, request([("noop", {"sleep_s": 3600})]))
    await until(runtime, lambda: running(runtime, op.operation_id, 0))
    assert (await cancel(runtime, op.operation_id, CAROL)).startswith("stopping now")

    async def stopped() -> bool:
        return (await load(runtime, op.operation_id)).status.is_final

    await until(runtime, stopped)
    after = await load(runtime, op.operation_id)
    assert after.status is OperationStatus.FAILED
    assert [s.status for s in after.steps] == [StepStatus.CANCELLED]
    await verified(runtime)


async def test_a_step_that_cannot_be_interrupted_says_so_and_finishes_first(
    runtime: Runtime, worker: None
) -> None:
    op = await submit(runtime, request([("noop.once", {"sleep_s": 15}), ("noop", {})]))
    assert RUNS_TO_ITS_END in op.plan.steps[0].preview.summary  # type: ignore[union-attr]
    assert RUNS_TO_ITS_END not in op.plan.steps[1].preview.summary  # type: ignore[union-attr]
    await until(runtime, lambda: running(runtime, op.operation_id, 0))

    answer = await cancel(runtime, op.operation_id, CAROL)
    assert answer.startswith("cancel requested; stops after the current step")
    assert "step 0 (noop.once) cannot be interrupted" in answer

    async def stopped() -> bool:
        return (await load(runtime, op.operation_id)).status.is_final

    await until(runtime, stopped)
    after = await load(runtime, op.operation_id)
    assert after.status is OperationStatus.ROLLED_BACK
    # The step ran to its end (it slept all 15 s), was undone, and the next never started.
    assert after.steps[0].output == {"slept_s": 15.0}
    assert [s.status for s in after.steps] == [StepStatus.ROLLED_BACK, StepStatus.PENDING]
    await verified(runtime)


async def test_a_cancel_before_the_start_answers_cancelled(runtime: Runtime) -> None:
    op = await submit(runtime, request([("noop", {})]))
    assert await cancel(runtime, op.operation_id, CAROL) == "cancelled"
    assert (await load(runtime, op.operation_id)).status is OperationStatus.CANCELLED


async def test_a_cancel_reaches_a_step_without_any_wake_up(runtime: Runtime) -> None:
    """No worker listens here (another process's cancel on SQLite wakes nobody): the keeper's
    own reading of the cancel stops the step, long before an hour-long lease is renewed."""
    powers = replace(runtime.powers, settings=runtime.settings.model_copy(update={"lease_s": 3600}))
    op = await submit(runtime, request([("noop", {"sleep_s": 3600})]))
    driving = asyncio.create_task(drive_once(powers, owner="A"))
    await until(runtime, lambda: running(runtime, op.operation_id, 0))
    assert (await cancel(runtime, op.operation_id, CAROL)).startswith("stopping now")
    await asyncio.wait_for(driving, timeout=120)
    after = await load(runtime, op.operation_id)
    assert (after.status, after.steps[0].status) == (OperationStatus.FAILED, StepStatus.CANCELLED)
