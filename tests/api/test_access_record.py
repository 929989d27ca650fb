"""The API's access record (``audit_logs``) over a real server, and its retention purge.

Each request's row names its principal, method, path, route, status, latency and request id,
and never a token or a query string; ``GET /health`` is exempt (probes poll it); the rows are
written by a background task in batches, so the test waits for them to appear.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.fixtures.api import noop_request
from tests.fixtures.servers import issue_token, triad_serve
from triadops.api.access import AccessLog
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage import maintenance
from triadops.storage.access import NO_PRINCIPAL, Access
from triadops.storage.engine import create_engine
from triadops.storage.tables import AuditLogRow

IDS = ("probe-1", "list-1", "submit-1", "anonymous-1")


async def rows_for(url: str, request_ids: Sequence[str], *, timeout_s: float) -> list[Any]:
    """Wait until a row exists for every id (the writer flushes about once a second)."""
    engine = create_engine(url)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while True:
            async with engine.connect() as conn:
                found = list(await conn.execute(select(AuditLogRow.__table__)))
            by_id = {row.request_id for row in found}
            if set(request_ids) <= by_id:
                return found
            assert loop.time() < deadline, f"no access rows for {set(request_ids) - by_id}"
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_each_request_is_recorded_with_its_principal_and_never_its_token(
    settings: Settings, tmp_path: Path
) -> None:
    secret = await issue_token(settings)
    auth = {"Authorization": f"Bearer {secret}"}
    async with (
        triad_serve(settings, tmp_path) as served,
        httpx.AsyncClient(base_url=served.url, timeout=10) as client,
    ):
        probe = await client.get("/health", headers={"X-Request-ID": "probe-1"})
        listed = await client.get(
            "/operations",
            params={"limit": 5, "token": secret},
            headers={**auth, "X-Request-ID": "list-1"},
        )
        submitted = await client.post(
            "/operations", json=noop_request(), headers={**auth, "X-Request-ID": "submit-1"}
        )
        refused = await client.get("/operations", headers={"X-Request-ID": "anonymous-1"})
        assert (probe.status_code, listed.status_code) == (200, 200), listed.text
        assert (submitted.status_code, refused.status_code) == (201, 401), submitted.text
        rows = await rows_for(settings.resolved_database_url, IDS[1:], timeout_s=30)
        # Rows are written in arrival order, batch after batch: the probe, asked first,
        # would be there by now if it were recorded.
        assert "probe-1" not in {row.request_id for row in rows}
        assert all(row.path != "/health" for row in rows)

    by_id = {row.request_id: row for row in rows}
    got = {
        rid: (r.actor, r.method, r.path, r.action, r.status)
        for rid, r in by_id.items()
        if rid in IDS
    }
    assert got == {
        "list-1": ("ops", "GET", "/operations", "GET /operations", 200),
        "submit-1": ("ops", "POST", "/operations", "POST /operations", 201),
        "anonymous-1": (NO_PRINCIPAL, "GET", "/operations", "GET /operations", 401),
    }
    for row in rows:
        assert row.latency_s is not None and 0 < row.latency_s < 30
        assert row.detail == {}
        assert secret not in repr(tuple(row)), "a token reached the access record"
        assert "?" not in (row.path or "")


async def test_the_retention_purge_removes_old_access_rows(runtime: Runtime) -> None:
    log = AccessLog(runtime.engine)
    now = utcnow()
    for i in range(3):
        log.add(Access(now, "ops", "GET", f"/x/{i}", "/x/{i}", 200, 0.01, f"r{i}"))
    await log.flush()
    async with runtime.engine.begin() as conn:
        await conn.execute(
            update(AuditLogRow)
            .where(AuditLogRow.request_id.in_(["r0", "r1"]))
            .values(created_at=now - timedelta(days=31))
        )
    deleted = await maintenance.purge_rows_older_than(
        runtime.engine,
        table="audit_logs",
        column="created_at",
        before=utcnow() - timedelta(days=30),
        batch_size=1,
    )
    assert deleted == 2
    async with runtime.engine.connect() as conn:
        left = list(await conn.execute(select(AuditLogRow.request_id)))
    assert [r.request_id for r in left] == ["r2"]


async def test_a_full_buffer_drops_and_counts_instead_of_growing(runtime: Runtime) -> None:
    log = AccessLog(runtime.engine, capacity=2, batch=1)
    for i in range(5):
        log.add(Access(utcnow(), None, "GET", "/", None, 200, 0.0, f"d{i}"))
    assert log.dropped == 3
    await log.start()
    await log.stop()  # writes what is buffered, one row per transaction
    async with runtime.engine.connect() as conn:
        kept = list(await conn.execute(select(AuditLogRow.request_id, AuditLogRow.actor)))
    assert sorted(kept) == [("d0", NO_PRINCIPAL), ("d1", NO_PRINCIPAL)]


async def test_a_batch_that_cannot_be_written_is_counted_not_raised(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-tables.db'}")  # no migrations
    try:
        log = AccessLog(engine)
        log.add(Access(utcnow(), "ops", "GET", "/", "/", 200, 0.0, "lost"))
        await log.flush()
        await log.flush()  # not retried: a broken database does not pile rows up
        assert (log.failed, log.dropped) == (1, 0)
    finally:
        await engine.dispose()
