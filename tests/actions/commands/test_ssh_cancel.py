"""A cancel reaches a command running on hosts: remote groups killed, undone where it ran."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import pytest

from tests.actions.commands.declared import open_runtime
from tests.actions.commands.test_ssh import gone
from tests.actions.commands.test_ssh_pipeline import _settings, _verified
from tests.constitution.test_slots import running_worker, until
from tests.fixtures.pipeline import CAROL, load, request, submit
from tests.fixtures.sshd import SshServer
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import cancel_operation
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.runtime import Runtime
from triadops.settings import Settings

pytestmark = pytest.mark.slow

SLOW = """
import json, sys, time
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(sys.argv[2:]) + "\\n")
if sys.argv[2] == "deploy":
    time.sleep(3600)
"""


async def test_a_cancel_kills_the_command_on_every_host_and_undoes_it_there(
    settings: Settings, ssh_server: SshServer, tmp_path: Path, opened: list[Runtime]
) -> None:
    script = tmp_path / "slow_deploy.py"
    script.write_text(SLOW)
    log = tmp_path / "slow.jsonl"
    base = [sys.executable, str(script), str(log)]
    spec = {
        "description": "a deploy that hangs",
        "argv": [*base, "deploy", "{tag}"],
        "rollback_argv": [*base, "undeploy", "{tag}"],
        "params": {"tag": {"type": "str"}},
        "risk": "low",
        "reversible": True,
        "idempotent": True,
        "timeout_s": 3600,
        "host_tags": ["web"],
    }
    config = _settings(settings, ssh_server, commands={"hang": spec})
    rt = await open_runtime(opened, config.model_copy(update={"worker_poll_s": 0.05}))
    hosts = ["web1", "web2", "web3"]
    params = {"tag": "v-cancel-7", "hosts": hosts, "batch_size": 3}
    op = await submit(rt, request([("command.hang", params)]))
    assert op.status is OperationStatus.SCHEDULED, op.status_reason

    def logged() -> list[list[str]]:
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []

    worker = running_worker(rt)
    await anext(worker)
    try:
        await until(rt, lambda: asyncio.sleep(0, len(logged()) == 3))
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
    step = done.steps[0]
    assert step.status is StepStatus.CANCELLED
    assert sorted(step.output["interrupted"]) == hosts
    assert sorted(h["host"] for h in step.output["undo"]["hosts"]) == hosts
    assert sorted(logged()) == sorted(
        [["deploy", "v-cancel-7"]] * 3 + [["undeploy", "v-cancel-7"]] * 3
    )
    assert await gone("v-cancel-7"), "a remote deploy outlived the cancel"
    assert await _verified(rt) == []
