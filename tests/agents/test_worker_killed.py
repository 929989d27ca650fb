"""A worker killed while the planner's call is in flight: the operation waits in review."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from sqlalchemy import select

from tests.agents.openai_server import ScriptedOpenAIServer, final_output, hang, text
from tests.agents.triad import YES_PLANNER, says, with_agents
from tests.constitution.test_durability import LEASE_S, kill
from tests.fixtures.pipeline import ALICE, load, request, start_worker
from triadops.constitution import lifecycle
from triadops.constitution.legislative.service import submit_operation
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import LedgerRow

pytestmark = pytest.mark.slow


SUCCESSOR_LEASE_S = 30.0
"""The successor's lease: long, so a busy machine's stalls never let it lapse mid-call.

Only the killed worker's lease must be short (the successor waits for it to expire). A
successor whose lease lapsed during its call would lose the operation and ask again: a
third request the script does not hold (issue 16's failure on a busy machine)."""


async def until(condition: object, *, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not callable(condition) or not await condition():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out waiting"
        await asyncio.sleep(0.05)


async def test_a_worker_killed_mid_call_leaves_the_operation_in_review_never_approved(
    runtime: Runtime,
    settings: Settings,
    openai_server: ScriptedOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRIAD_MODEL", "openai-chat:scripted")
    monkeypatch.setenv("TRIAD_AGENTS__EXECUTOR", "rules")
    monkeypatch.setenv("TRIAD_AGENTS__EVALUATOR", "rules")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-killed-worker-0123456789")
    # The first call hangs (its worker dies under it); the next one approves.
    openai_server.script(hang(120, then=text("too late")), final_output(YES_PLANNER))
    deferring = with_agents(runtime, planner=says(YES_PLANNER))
    async with runtime.session() as session:
        row = await submit_operation(session, deferring, request=request(), requester=ALICE)
        await lifecycle.commit(session)
    op_id = row.id

    async def asked(n: int) -> bool:
        return len(openai_server.requests) >= n

    worker = start_worker(settings, lease_s=LEASE_S)
    try:
        await until(lambda: asked(1))
    finally:
        kill(worker)
    waiting = await load(runtime, op_id)
    assert waiting.status is OperationStatus.REVIEWING
    async with runtime.session(read_only=True) as session:
        moves = (
            await session.execute(
                select(LedgerRow.to_status).where(
                    LedgerRow.operation_id == op_id, LedgerRow.event == "transition"
                )
            )
        ).scalars()
        assert list(moves) == ["reviewing"]

    successor = start_worker(settings, lease_s=SUCCESSOR_LEASE_S)
    try:

        async def settled() -> bool:
            return (await load(runtime, op_id)).status.is_final

        await until(settled)
    finally:
        successor.send_signal(signal.SIGTERM)
        successor.wait(timeout=20)
    done = await load(runtime, op_id)
    assert done.status is OperationStatus.COMPLETED, done.status_reason
    assert len(openai_server.requests) == 2  # asked again, once
    assert done.planning_result is not None and done.planning_result.agent is not None
    assert done.planning_result.agent.model == "openai-chat:scripted"
    logs = [p.read_text() for p in settings.home.glob("worker-*.log")]
    assert len(logs) == 2 and all("sk-test-killed-worker" not in log for log in logs)
