"""One operation on its own, as ``triad ops submit --wait`` runs it: latency, commits, statements.

Each noop is reviewed, stored and driven to ``completed`` before the next starts, on SQLite.
The baseline is the floor under it: the same number of durable commits, one row each, with
plain sqlite3 on the same disk, in the same run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from pipeline import BENCHER, noop_request, raw_sqlite
from table import Row, percentile
from triadops.constitution.legislative.service import (
    commit_new_operation,
    review_request,
    store_reviewed,
)
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.worker.claims import wait_for_operation


async def rows(quick: bool) -> list[Row]:
    n = 50 if quick else 300
    counts = {"commits": 0, "statements": 0}

    def on_commit(_conn: Any) -> None:
        counts["commits"] += 1

    def on_statement(*_args: Any) -> None:
        counts["statements"] += 1

    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        rt = await Runtime.open(Settings(home=home))
        try:
            event.listen(rt.engine.sync_engine, "commit", on_commit)
            event.listen(rt.engine.sync_engine, "before_cursor_execute", on_statement)
            for _ in range(n):
                request = noop_request()
                started = time.perf_counter()
                async with rt.session(read_only=True) as reading:
                    reviewed = await review_request(
                        reading, rt.powers, request=request, requester=BENCHER
                    )
                async with rt.session() as session:
                    store_reviewed(session, rt.powers, reviewed)
                    await commit_new_operation(session, request.operation_id)
                op = await wait_for_operation(
                    rt.powers, request.operation_id, drive=True, owner="bench"
                )
                latencies.append(time.perf_counter() - started)
                assert op.status is OperationStatus.COMPLETED, op.status
        finally:
            await rt.close()
        commits, statements = counts["commits"] / n, counts["statements"] / n
        floor = raw_sqlite(home / "floor.db", round(commits * n), round(commits * n)) / n
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return [
        Row(
            path="one noop on its own, SQLite: submit, then drive to completed",
            measured=(
                f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
                f"{commits:.0f} commits, {statements:.0f} statements per operation"
            ),
            baseline=f"its {commits:.0f} durable commits with plain sqlite3: {floor * 1000:.1f} ms",
            ratio=p50 / floor,
        )
    ]
