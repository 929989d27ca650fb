"""SIGKILL a real worker mid-step and recover: nothing lost, nothing run twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.pipeline import JUDGE, load, request, start_worker, submit
from triadops.constitution import ledger, lifecycle
from triadops.constitution.judicial.service import resolve_in_doubt
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.worker.claims import drive_once

pytestmark = pytest.mark.slow
LEASE_S = 1.0


async def wait_for_file(path: Path, lines: int = 1, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not (path.exists() and len(path.read_text().splitlines()) >= lines):
        assert time.monotonic() < end, f"{path} never got {lines} line(s)"
        await asyncio.sleep(0.02)


def kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)


async def recover(rt: Runtime) -> None:
    """Let the dead worker's lease expire, then drive what it left."""
    await asyncio.sleep(LEASE_S + 0.2)
    while await drive_once(rt.powers, owner="survivor"):
        pass


async def verified(rt: Runtime) -> int:
    async with rt.session() as session:
        report = await ledger.verify(session)
    assert report.ok, report.problem
    return report.entries_checked


async def test_killed_idempotent_step_is_resumed_and_done_steps_never_rerun(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    first, second = tmp_path / "home" / "drills" / "first", tmp_path / "home" / "drills" / "second"
    steps = [("noop", {"marker": str(first)}), ("noop", {"sleep_s": 2, "marker": str(second)})]
    op = await submit(runtime, request(steps))
    worker = start_worker(settings, lease_s=LEASE_S)
    try:
        await wait_for_file(second)
    finally:
        kill(worker)
    assert (await load(runtime, op.operation_id)).status is OperationStatus.EXECUTING

    await recover(runtime)
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.COMPLETED, op.status_reason
    assert len(first.read_text().splitlines()) == 1, "a finished step ran again"
    assert len(second.read_text().splitlines()) == 2, "the interrupted step was not resumed"
    assert [s.attempts for s in op.steps] == [1, 2]
    assert await verified(runtime) > 0


async def test_killed_non_idempotent_step_goes_in_doubt_until_ruled(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    marks = tmp_path / "home" / "drills" / "marks"
    op = await submit(runtime, request([("noop.once", {"sleep_s": 30, "marker": str(marks)})]))
    worker = start_worker(settings, lease_s=LEASE_S)
    try:
        await wait_for_file(marks)
    finally:
        kill(worker)

    await recover(runtime)
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.IN_DOUBT
    assert "judicial ruling" in (op.status_reason or "")
    assert len(marks.read_text().splitlines()) == 1, "a non-idempotent step ran twice"
    assert await drive_once(runtime.powers, owner="again") == 0

    async with runtime.session() as session:
        await resolve_in_doubt(session, operation_id=op.operation_id, step_succeeded=True, by=JUDGE)
        await lifecycle.commit(session)
    await drive_once(runtime.powers, owner="again")
    op = await load(runtime, op.operation_id)
    assert op.status is OperationStatus.COMPLETED, op.status_reason
    assert len(marks.read_text().splitlines()) == 1
    assert await verified(runtime) > 0


@pytest.mark.parametrize("moment", [0.05, 0.15, 0.3, 0.5])
async def test_kill_at_any_moment_loses_nothing(
    runtime: Runtime, settings: Settings, tmp_path: Path, moment: float
) -> None:
    marks = [tmp_path / "home" / "drills" / f"m{i}" for i in range(8)]
    ops = [
        await submit(
            runtime,
            request([("noop", {"sleep_s": 0.02, "marker": str(m)}), ("noop", {"sleep_s": 0.02})]),
        )
        for m in marks
    ]
    worker = start_worker(settings, lease_s=LEASE_S)
    try:
        # Kill only once the worker is really at work, then a moment into it.
        deadline = asyncio.get_running_loop().time() + 60
        while not any(m.exists() for m in marks):
            assert asyncio.get_running_loop().time() < deadline, "the worker never started"
            await asyncio.sleep(0.01)
        await asyncio.sleep(moment)
    finally:
        kill(worker)
    await recover(runtime)
    for op in ops:
        done = await load(runtime, op.operation_id)
        assert done.status is OperationStatus.COMPLETED, (done.operation_id, done.status)
    assert await verified(runtime) >= 8 * 12


@pytest.mark.parametrize(
    ("action", "status", "rollbacks"),
    [("noop", OperationStatus.ROLLED_BACK, 2), ("noop.once", OperationStatus.FAILED, 1)],
)
async def test_killed_rollback_runs_again_only_if_idempotent(
    runtime: Runtime,
    settings: Settings,
    tmp_path: Path,
    action: str,
    status: OperationStatus,
    rollbacks: int,
) -> None:
    marks = tmp_path / "home" / "drills" / "marks"
    slow_undo = {"marker": str(marks), "rollback_sleep_s": 2}
    op = await submit(runtime, request([(action, slow_undo), ("noop", {"fail": True})]))
    worker = start_worker(settings, lease_s=LEASE_S)
    try:
        await wait_for_file(marks, lines=2)  # the run, then the start of its rollback
    finally:
        kill(worker)
    await recover(runtime)
    op = await load(runtime, op.operation_id)
    assert op.status is status, op.status_reason
    lines = marks.read_text().splitlines()
    assert sum(line.startswith("rollback") for line in lines) == rollbacks
    if status is OperationStatus.FAILED:
        assert "rollback was interrupted" in (op.status_reason or "")
        assert op.steps[0].status is StepStatus.ROLLBACK_FAILED
    assert await verified(runtime) > 0
