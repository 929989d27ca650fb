"""Several real worker processes share one PostgreSQL queue and never run a step twice."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.fixtures.pipeline import load, request, start_worker, submit
from triadops.constitution import ledger
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.ledger import select_operation_entries

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_workers_share_the_queue_without_running_anything_twice(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    assert runtime.engine.dialect.name == "postgresql"
    marks = [tmp_path / "home" / "drills" / f"m{i}" for i in range(60)]
    ops = [
        await submit(runtime, request([("noop.once", {"sleep_s": 0.05, "marker": str(m)})]))
        for m in marks
    ]
    # Four operations at a time each (a fifth slot is kept for emergencies), so one
    # worker cannot take the whole queue at once.
    workers = [start_worker(settings, lease_s=30, concurrency=5) for _ in range(3)]
    try:
        end = time.monotonic() + 60
        while True:
            states = [(await load(runtime, op.operation_id)).status for op in ops]
            if all(s.is_final for s in states) or time.monotonic() > end:
                break
            await asyncio.sleep(0.2)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            assert w.wait(timeout=15) == 0
    assert states == [OperationStatus.COMPLETED] * len(ops)
    assert [len(m.read_text().splitlines()) for m in marks] == [1] * len(marks)
    owners = set()
    async with runtime.session() as session:
        for op in ops:
            entries = await select_operation_entries(session, op.operation_id)
            owners |= {e.actor for e in entries if e.actor.startswith("executive:")}
        report = await ledger.verify(session)
    assert report.ok, report.problem
    assert len(owners) >= 2, f"only {owners} did any work"
