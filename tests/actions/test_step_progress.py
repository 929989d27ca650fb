"""A step's progress: stored on its row while the work runs (writes of their own) and at the end."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.actions.conftest import action_context
from tests.fixtures.pipeline import load, request, submit
from triadops.actions.backup import BackupParams, DatabaseBackupAction
from triadops.domain.progress import StepProgress
from triadops.runtime import Runtime
from triadops.storage.operations import get_steps

WAIT_S = 30.0


async def stored_progress(runtime: Runtime, operation_id: str) -> StepProgress | None:
    async with runtime.session(read_only=True) as session:
        (step,) = await get_steps(session, operation_id)
    return StepProgress.model_validate(step.progress) if step.progress else None


async def test_progress_is_stored_while_the_stage_runs_and_once_more_at_its_end(
    runtime: Runtime,
) -> None:
    op = await submit(runtime, request())
    settings = runtime.settings.model_copy(update={"step_progress_s": 0.05})
    ctx = replace(action_context(settings, runtime.databases), operation_id=op.operation_id)
    async with ctx.progress("copy", 1000) as meter:
        meter.update(250)
        async with asyncio.timeout(WAIT_S):
            while (seen := await stored_progress(runtime, op.operation_id)) is None or (
                seen.done_bytes != 250
            ):
                await asyncio.sleep(0.01)
        assert (seen.what, seen.total_bytes, seen.finished) == ("copy", 1000, False)
        meter.add(750)
        meter.complete()
    final = await stored_progress(runtime, op.operation_id)
    assert final is not None
    assert (final.done_bytes, final.total_bytes, final.finished) == (1000, 1000, True)
    assert final.rate_bytes_per_s is not None and final.rate_bytes_per_s > 0
    assert (await load(runtime, op.operation_id)).steps[0].progress == final


async def test_a_backup_leaves_its_final_figures_on_the_step(runtime: Runtime) -> None:
    op = await submit(runtime, request())
    ctx = replace(action_context(runtime.settings, runtime.databases), operation_id=op.operation_id)
    made = await DatabaseBackupAction().run(ctx, BackupParams())
    final = await stored_progress(runtime, op.operation_id)
    assert final is not None and final.finished
    assert final.what == "hash"
    assert final.done_bytes == final.total_bytes == made["size_bytes"]
