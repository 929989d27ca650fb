"""The cancel's answer says what happens next: cancelled, stopping now, or after the step.

Issue 16: ``cancel`` answered only with the status. With the real worker running the
step, the answer names the step and whether it is being interrupted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.fixtures.api import Api, noop_request
from triadops.actions.base import RUNS_TO_ITS_END
from triadops.runtime import Runtime
from triadops.worker.loop import run_worker

pytestmark = pytest.mark.slow


@pytest.fixture
async def worker(rt: Runtime) -> AsyncIterator[None]:
    """The real worker loop beside the app, until the test ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(rt.powers, stop=stop, owner="w"))
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=60)


async def until(condition: Callable[[], Awaitable[bool]], *, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < end, "timed out waiting for the condition"
        await asyncio.sleep(0.05)


async def read(api: Api, operation_id: str) -> dict[str, Any]:
    response = await api.get(f"/operations/{operation_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def submit_running(api: Api, steps: list[dict[str, Any]]) -> str:
    """Submit `steps` and wait until the first one runs."""
    created = await api.submit(noop_request(steps=steps))
    op_id: str = created["operation_id"]

    async def first_running() -> bool:
        return (await read(api, op_id))["steps"][0]["status"] == "running"

    await until(first_running)
    return op_id


async def finished(api: Api, operation_id: str) -> dict[str, Any]:
    async def final() -> bool:
        status = (await read(api, operation_id))["status"]
        return status in ("completed", "failed", "rolled_back", "cancelled")

    await until(final)
    return await read(api, operation_id)


async def test_a_running_noop_is_stopping_now(api: Api, worker: None) -> None:
    op_id = await submit_running(api, [{"action": "noop", "params": {"sleep_s": 3600}}])
    response = await api.post(f"/operations/{op_id}/cancel", as_="carol")
    assert response.status_code == 200, response.text
    assert response.json()["cancel"] == (
        "stopping now: step 0 (noop) is interrupted, then what ran is rolled back"
    )
    done = await finished(api, op_id)
    assert done["status"] == "failed"
    assert [s["status"] for s in done["steps"]] == ["cancelled"]


async def test_a_step_that_cannot_be_interrupted_stops_after_the_current_step(
    api: Api, worker: None
) -> None:
    steps = [
        {"action": "noop.once", "params": {"sleep_s": 3600}},
        {"action": "noop", "params": {}},
    ]
    op_id = await submit_running(api, steps)
    preview = (await read(api, op_id))["plan"]["steps"][0]["preview"]["summary"]
    assert RUNS_TO_ITS_END in preview
    response = await api.post(f"/operations/{op_id}/cancel", as_="alice")
    assert response.status_code == 200, response.text
    assert response.json()["cancel"] == (
        "cancel requested; stops after the current step: step 0 (noop.once) cannot be "
        "interrupted, then what ran is rolled back"
    )
    # The step goes on (the worker's stop at the end of the test leaves it to recovery).
    assert (await read(api, op_id))["steps"][0]["status"] == "running"


async def test_a_scheduled_operation_is_cancelled_at_once(api: Api) -> None:
    created = await api.submit(noop_request())
    response = await api.post(f"/operations/{created['operation_id']}/cancel", as_="alice")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["cancel"]) == ("cancelled", "cancelled")
