"""Governed noop operations end to end, beside the raw cost of the same durable commits.

Runs N operations through all four branches (submit, review, claim, execute, validate,
complete: every transition with its ledger entry) on SQLite and on PostgreSQL, counts the
commits the pipeline made, then times the same number of bare durable commits with plain
sqlite3 (WAL, synchronous=FULL) and asyncpg, in the same run. The ratio is the figure.

    python bench/pipeline.py [--quick]
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from table import Row, cli
from triadops.constitution.commits import Submissions
from triadops.constitution.ledger import verify
from triadops.constitution.legislative.service import review_request, store_reviewed
from triadops.domain.identity import ALL_ROLES, Identity
from triadops.domain.operations import OperationRequest
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.operations import count_by_status
from triadops.worker.claims import drive_once

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCHER = Identity(name="bench", roles=ALL_ROLES)


def noop_request() -> OperationRequest:
    return OperationRequest.model_validate(
        {
            "operation_type": "maintenance",
            "constitutional_authority": "executive",
            "description": "benchmark noop",
            "requested_by": "bench",
            "steps": [{"action": "noop", "params": {}}],
        }
    )


async def run_pipeline(settings: Settings, n: int) -> tuple[float, int, int]:
    """Return (seconds, commits, ledger entries) for n governed operations, submit to done."""
    rt = await Runtime.open(settings)
    commits = 0

    def count(_conn: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(rt.engine.sync_engine, "commit", count)
    requests = [noop_request() for _ in range(n)]
    powers = rt.powers
    started = time.perf_counter()
    await submit_grouped(rt, requests)
    while await drive_once(powers, owner="bench", limit=256):
        pass
    elapsed = time.perf_counter() - started
    async with rt.session() as session:
        report = await verify(session)
        assert report.ok, report.problem
        counts = await count_by_status(session)
        assert counts == {"completed": n}, f"not every operation completed: {counts}"
    event.remove(rt.engine.sync_engine, "commit", count)
    await rt.close()
    return elapsed, commits, report.entries_checked


async def submit_grouped(rt: Runtime, requests: list[OperationRequest]) -> None:
    """Submit as the API does, 64 in flight: reviewed outside the write lock, stored in groups."""
    submissions = Submissions(rt.sessions)
    powers = rt.powers

    async def submit(req: OperationRequest) -> None:
        async with rt.session(read_only=True) as reading:
            reviewed = await review_request(reading, powers, request=req, requester=BENCHER)

        async def apply(session: AsyncSession, _tick: object) -> None:
            store_reviewed(session, powers, reviewed)

        await submissions.submit(apply)

    for i in range(0, len(requests), 64):
        await asyncio.gather(*(submit(r) for r in requests[i : i + 64]))
    await submissions.stop()


BODY = '{"actor":"executive:bench","event":"transition","details":{}}'


def raw_sqlite(path: Path, commits: int, count: int) -> float:
    """Time `count` inserts spread over `commits` durable commits with plain sqlite3."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    per = max(1, count // commits)
    started = time.perf_counter()
    for _ in range(commits):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO t (body) VALUES (?)", [(BODY,)] * per)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def raw_asyncpg(dsn: str, commits: int, count: int) -> float:
    """Time `count` inserts spread over `commits` durable commits with asyncpg."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE t (id serial PRIMARY KEY, body text)")
    per = max(1, count // commits)
    started = time.perf_counter()
    for _ in range(commits):
        async with conn.transaction():
            await conn.executemany("INSERT INTO t (body) VALUES ($1)", [(BODY,)] * per)
    elapsed = time.perf_counter() - started
    await conn.close()
    return elapsed


async def rows(quick: bool) -> list[Row]:
    """The in-process group shape on both databases, each beside the same raw commits."""
    n = 300 if quick else 1000
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        elapsed, commits, entries = await run_pipeline(Settings(home=home), n)
        each = raw_sqlite(home / "each.db", entries, entries)
    out.append(_row("sqlite", n, elapsed, commits, entries, each))
    admin = await asyncpg.connect(PG_ADMIN)
    names = [f"triad_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN.rsplit("/", 1)[0]
        url = base.replace("postgresql://", "postgresql+asyncpg://") + "/" + names[0]
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(home=Path(tmp), database_url=url)
            elapsed, commits, entries = await run_pipeline(settings, n)
        each = await raw_asyncpg(f"{base}/{names[1]}", entries, entries)
        out.append(_row("postgres", n, elapsed, commits, entries, each))
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return out


def _row(db: str, n: int, elapsed: float, commits: int, entries: int, each: float) -> Row:
    return Row(
        path=f"in-process groups, {db}: {n} noops to completed",
        measured=f"{n / elapsed:.0f} ops/s ({commits} commits, {entries} ledger entries)",
        baseline=f"raw: {entries} durable commits of one row each, {each:.2f}s",
        ratio=each / elapsed,
    )


if __name__ == "__main__":
    cli(rows, __doc__)
