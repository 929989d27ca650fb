"""Triad's own usage per 5-minute bucket: API requests from a real server, operations from the
monitor's count, several API processes adding up, and the history pruned."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.fixtures.pipeline import request, submit
from tests.fixtures.servers import issue_token, triad_serve
from triadops.api.access import AccessLog
from triadops.constitution import lifecycle
from triadops.domain.clock import FakeClock, using
from triadops.ops.maintenance.scheduled import record_usage
from triadops.ops.monitor import Monitor
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage import usage
from triadops.storage.access import Access
from triadops.storage.engine import create_engine
from triadops.storage.tables import UsageBucketRow

NOON = datetime(2026, 12, 1, 12, 1, tzinfo=UTC)


async def buckets(url: str, source: str) -> dict[datetime, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(UsageBucketRow.bucket, UsageBucketRow.count).where(
                    UsageBucketRow.source == source
                )
            )
            return {bucket: int(count) for bucket, count in rows}
    finally:
        await engine.dispose()


def access(at: datetime, n: int) -> Access:
    return Access(
        at=at,
        principal="alice",
        method="GET",
        path="/operations",
        route="/operations",
        status=200,
        latency_s=0.001,
        request_id=f"r-{n}",
    )


@pytest.mark.slow
async def test_requests_to_a_real_server_are_counted_in_their_bucket(
    settings: Settings, tmp_path: Path
) -> None:
    secret = await issue_token(settings)
    auth = {"Authorization": f"Bearer {secret}"}
    async with (
        triad_serve(settings, tmp_path) as served,
        httpx.AsyncClient(base_url=served.url, timeout=10) as client,
    ):
        for _ in range(5):
            assert (await client.get("/operations", headers=auth)).status_code == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while sum((await buckets(settings.resolved_database_url, usage.API)).values()) < 5:
            assert loop.time() < deadline, "the access writer never counted the requests"
            await asyncio.sleep(0.1)  # the writer flushes about once a second
    counted = await buckets(settings.resolved_database_url, usage.API)
    assert all(b.minute % 5 == 0 and b.second == 0 for b in counted)
    assert sum(counted.values()) == 5


async def test_two_api_processes_add_to_the_same_bucket(settings: Settings) -> None:
    url = settings.resolved_database_url
    one, two = create_engine(url), create_engine(url)
    try:
        first, second = AccessLog(one), AccessLog(two)
        for n in range(3):
            first.add(access(NOON, n))
        for n in range(4):
            second.add(access(NOON + timedelta(seconds=30), 10 + n))
        second.add(access(NOON + timedelta(minutes=5), 20))
        await first.flush()
        await second.flush()
    finally:
        await one.dispose()
        await two.dispose()

    assert await buckets(url, usage.API) == {
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC): 7,  # 3 + 4: added, not overwritten
        datetime(2026, 12, 1, 12, 5, tzinfo=UTC): 1,
    }


async def test_operations_are_counted_by_the_monitor_once_however_often_it_runs(
    runtime: Runtime,
) -> None:
    with using(FakeClock(NOON)) as clock:
        assert isinstance(clock, FakeClock)
        for _ in range(2):
            await submit(runtime, request())
        clock.advance(300)
        await submit(runtime, request())
        await record_usage(runtime.powers, now=clock.now())
        await record_usage(runtime.powers, now=clock.now())

    assert await buckets(runtime.settings.resolved_database_url, usage.OPERATIONS) == {
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC): 2,
        datetime(2026, 12, 1, 12, 5, tzinfo=UTC): 1,
    }


async def test_buckets_past_keep_days_are_pruned(runtime: Runtime) -> None:
    old = NOON - timedelta(days=runtime.settings.usage.keep_days, minutes=5)
    kept = NOON - timedelta(days=runtime.settings.usage.keep_days - 1)
    async with runtime.session() as session:
        await usage.set_counts(session, usage.API, {old: 9, kept: 4})
        await lifecycle.commit(session)

    await record_usage(runtime.powers, now=NOON)

    assert await buckets(runtime.settings.resolved_database_url, usage.API) == {kept: 4}


async def test_the_monitors_leader_counts_operations_on_its_cadence(runtime: Runtime) -> None:
    with using(FakeClock(NOON)) as clock:
        assert isinstance(clock, FakeClock)
        await submit(runtime, request())
        monitor = Monitor(runtime.powers, owner="m", clock=clock.now, collectors=[])
        first = await monitor.tick()
        await submit(runtime, request())
        soon = await monitor.tick()  # within usage.every_s: not the usage pass's turn
        clock.advance(runtime.settings.usage.every_s)
        later = await monitor.tick()

    assert first.leader and first.usage_buckets == 1
    assert soon.usage_buckets is None
    assert later.usage_buckets == 1
    assert await buckets(runtime.settings.resolved_database_url, usage.OPERATIONS) == {
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC): 2
    }
