"""``triad audit verify`` on a long SQLite ledger, beside plain sha256 over the same bytes.

Builds a ledger of 200,000 entries (20,000 with --quick) by running noop operations through
the pipeline in groups, as bench/pipeline.py does. Then, in the same run:

1. times the full verification (chain walk and replay against the stored state, on a
   read-only session) beside a plain loop of ``hashlib.sha256`` over every entry's
   canonical bytes, read from the same rows beforehand: the floor no verifier goes under;
2. submits a noop through the real submission path (review outside the write lock, group
   commit) every 20 ms while a verification runs in the same event loop, as the API's
   ``GET /audit/verify`` would, beside the same submissions with no verification running.

    python bench/verify.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from pipeline import BENCHER, noop_request
from table import Row, markdown, percentile
from triadops.constitution.ledger import audit
from triadops.constitution.legislative.service import review_request, store_reviewed
from triadops.domain.chain import canonical_json
from triadops.domain.ledger import VerifyReport
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.worker.claims import drive_once

AIM_RATE = 100_000
"""Entries a second the issue asks of verification on SQLite."""

AIM_WAIT_S = 0.100
"""The longest a submission may wait while a verification runs."""

EVERY_S = 0.020
"""How often a submission is made while measuring waits."""


async def build(rt: Runtime, operations: int) -> None:
    """Run `operations` noops to completed, 256 submitted at a time, then driven."""
    for start in range(0, operations, 256):
        group = min(256, operations - start)
        await asyncio.gather(*(submit(rt) for _ in range(group)))
        while await drive_once(rt.powers, owner="bench", limit=256):
            pass


async def submit(rt: Runtime) -> float:
    """Submit one noop as the API does; return how long it took, in seconds."""
    started = time.perf_counter()
    async with rt.session(read_only=True) as reading:
        reviewed = await review_request(
            reading, rt.powers, request=noop_request(), requester=BENCHER
        )

    async def apply(session: AsyncSession, _tick: object) -> None:
        store_reviewed(session, rt.powers, reviewed)

    await rt.submissions.submit(apply)
    return time.perf_counter() - started


async def verify(rt: Runtime) -> tuple[VerifyReport, float]:
    """Run ``triad audit verify``'s replay on a read-only session; return it and its seconds."""
    # The build's garbage is not the walk's to collect: start as a fresh CLI process would.
    gc.collect()
    started = time.perf_counter()
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    elapsed = time.perf_counter() - started
    assert report.ok, (report.problem, report.discrepancies[:3])
    return report, elapsed


def canonical_bytes(database: Path) -> list[bytes]:
    """Read every entry's hashed bytes (prev_hash + canonical body), checked against its hash."""
    conn = sqlite3.connect(database)
    blobs = []
    query = (
        "SELECT seq, at, actor, event, operation_id, from_status, to_status, details,"
        " prev_hash, hash FROM ledger ORDER BY seq"
    )
    for row in conn.execute(query):
        seq, at, actor, event, operation_id, from_status, to_status, details, prev, digest = row
        body = {
            "seq": seq,
            "at": datetime.fromisoformat(at).replace(tzinfo=UTC).isoformat(),
            "actor": actor,
            "event": event,
            "operation_id": operation_id,
            "from_status": from_status,
            "to_status": to_status,
            "details": json.loads(details),
        }
        blob = (prev + canonical_json(body)).encode()
        assert hashlib.sha256(blob).hexdigest() == digest
        blobs.append(blob)
    conn.close()
    return blobs


def plain_sha256(blobs: list[bytes]) -> float:
    """Return the seconds a plain loop takes to hash every blob as the chain does."""
    started = time.perf_counter()
    for blob in blobs:
        hashlib.sha256(blob).hexdigest()
    return time.perf_counter() - started


async def waits(rt: Runtime, *, during_verify: bool, count: int) -> list[float]:
    """Submit every 20 ms (while a verification runs, or `count` times); return the waits."""
    running = asyncio.create_task(verify(rt)) if during_verify else None
    made: list[asyncio.Task[float]] = []
    while (running is not None and not running.done()) or (running is None and len(made) < count):
        made.append(asyncio.create_task(submit(rt)))
        await asyncio.sleep(EVERY_S)
    if running is not None:
        await running
    return list(await asyncio.gather(*made))


async def rows(quick: bool) -> list[Row]:
    """Verification's rate beside sha256's, and submissions' waits beside a quiet loop's."""
    operations = 2_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        rt = await Runtime.open(Settings(home=home))
        try:
            await build(rt, operations)
            report, elapsed = min([await verify(rt) for _ in range(3)], key=lambda r: r[1])
            blobs = canonical_bytes(home / "triad.db")
            hashing = min(plain_sha256(blobs) for _ in range(3))
            entries = len(blobs)
            assert entries == report.entries_checked
            del blobs
            for _ in range(5):
                await submit(rt)  # warm the path before measuring it
            busy = await waits(rt, during_verify=True, count=0)
            quiet = await waits(rt, during_verify=False, count=len(busy))
        finally:
            await rt.close()
    rate, floor = entries / elapsed, entries / hashing
    return [
        Row(
            path=f"audit verify, sqlite: {entries} entries, {report.operations_checked} operations",
            measured=f"{rate:,.0f} entries/s ({elapsed:.2f}s, best of 3)",
            baseline=f"plain sha256 over the same bytes: {floor:,.0f} entries/s",
            ratio=rate / floor,
            aim=f"≥{AIM_RATE:,} entries/s",
            met=rate >= AIM_RATE,
        ),
        Row(
            path=f"submissions during audit verify, sqlite: one every {EVERY_S * 1000:.0f} ms",
            measured=f"longest wait {max(busy) * 1000:.0f} ms ({_spread(busy)})",
            baseline=f"no verify running: longest {max(quiet) * 1000:.0f} ms ({_spread(quiet)})",
            ratio=max(busy) / max(quiet),
            aim=f"<{AIM_WAIT_S * 1000:.0f} ms",
            met=max(busy) < AIM_WAIT_S,
        ),
    ]


def _spread(samples: list[float]) -> str:
    median = statistics.median(samples) * 1000
    p99 = percentile(samples, 99) * 1000
    return f"{len(samples)} submissions, p50 {median:.0f} ms, p99 {p99:.0f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 entries, not 200,000.")
    args = parser.parse_args()
    print(markdown(await rows(args.quick)))


if __name__ == "__main__":
    asyncio.run(main())
