"""The crown's cancel reaches a running command: its whole process group dies at once."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import pytest

from tests.actions.commands.declared import open_runtime, with_commands
from tests.actions.commands.test_local import SPAWNS_GRANDCHILD, alive
from tests.constitution.test_slots import running_worker, until
from tests.fixtures.pipeline import CAROL, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import cancel_operation
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.runtime import Runtime
from triadops.settings import Settings

pytestmark = pytest.mark.slow


async def test_a_cancel_kills_a_running_command_and_its_grandchild(
    settings: Settings, tmp_path: Path, opened: list[Runtime]
) -> None:
    script = tmp_path / "spawns.py"
    script.write_text(SPAWNS_GRANDCHILD)
    pid_file = tmp_path / "grandchild"
    spec = {
        "description": "a long job with a helper process",
        "argv": [sys.executable, str(script), str(pid_file)],
        "rollback_argv": [sys.executable, "-c", "pass"],
        "risk": "low",
        "reversible": True,
        "idempotent": True,
        "timeout_s": 3600,
    }
    base = with_commands(settings, long=spec)
    rt = await open_runtime(opened, base.model_copy(update={"worker_poll_s": 0.05}))
    op = await submit(rt, request([("command.long", {})]))
    assert op.status is OperationStatus.SCHEDULED, op.status_reason
    worker = running_worker(rt)
    await anext(worker)
    try:
        await until(rt, lambda: asyncio.sleep(0, pid_file.exists() and bool(pid_file.read_text())))
        grandchild = int(pid_file.read_text())
        async with rt.session() as session:
            await cancel_operation(session, operation_id=op.operation_id, by=CAROL)
            await lifecycle.commit(session)

        async def ended() -> bool:
            return (await load(rt, op.operation_id)).status.is_final

        await until(rt, ended, timeout=60)
    finally:
        with contextlib.suppress(StopAsyncIteration):
            await anext(worker)
    done = await load(rt, op.operation_id)
    assert done.status is OperationStatus.FAILED
    assert done.status_reason == "cancelled by carol during step 0 (command.long)"
    assert done.steps[0].status is StepStatus.CANCELLED
    await until(rt, lambda: asyncio.sleep(0, not alive(grandchild)), timeout=10)
