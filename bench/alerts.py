"""Alerts: dedup, silencing and routing in process and over HTTP; one full health check.

- In process: an ``AlertBook`` (the engine ``POST /alerts`` uses) takes batches of alerts
  against ten silences, one a regex; baseline: parsing the same alerts with pydantic, the
  least any path that accepts them pays.
- Over HTTP: 16 clients ``POST /alerts`` to ``triad serve`` on SQLite, 100 alerts a body,
  stored (dedup, silences, groups, ledger) before the answer; baselines: a bare FastAPI
  endpoint that parses the same body with the same model, and raw sqlite3 inserts of the
  same rows, one transaction per body.
- One full health check (host, database, branches) beside the bare psutil calls it makes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from serving import hammer, hello_world, ok, triad
from table import Row, cli, percentile
from triadops.domain.alerts import AlertIn, Matcher, fingerprint
from triadops.domain.enums import Authority
from triadops.ops.alerts.engine import AlertBook, SilenceSpec, compile_silences
from triadops.ops.health.host import MIN_CPU_SAMPLE_S
from triadops.ops.health.service import check_health, default_collectors
from triadops.runtime import Runtime
from triadops.settings import Settings

BODY = 100
"""Alerts per HTTP body."""
DISTINCT = 2000
"""Distinct alerts (fingerprints) the stream cycles through: most posts are repeats."""


def alert(i: int) -> dict[str, Any]:
    """The i-th alert of the stream: a few alertnames over many instances."""
    n = i % DISTINCT
    return {
        "labels": {
            "alertname": f"Bench{n % 20}",
            "instance": f"host-{n}:9100",
            "job": "node",
            "severity": ("info", "warning", "critical")[n % 3],
        },
        "annotations": {"summary": f"bench alert {n}"},
    }


def silences(now: datetime) -> tuple[SilenceSpec, ...]:
    specs = [
        SilenceSpec(
            id=f"s{i}",
            ends_at=now + timedelta(hours=1),
            matchers=(Matcher(name="instance", value=f"host-{i * 7}:9100"),),
        )
        for i in range(9)
    ]
    specs.append(
        SilenceSpec(
            id="regex",
            ends_at=now + timedelta(hours=1),
            matchers=(Matcher.parse("instance=~host-1[0-9]:9100"), Matcher.parse("job!=db")),
        )
    )
    return tuple(specs)


def in_process(n: int) -> Row:
    raw = [alert(i) for i in range(n)]
    started = time.perf_counter()
    parsed = [AlertIn.model_validate(a) for a in raw]
    parse_s = time.perf_counter() - started
    now = datetime.now(UTC)
    routes = {a: [a.value] for a in Authority}
    book = AlertBook(
        group_by=["alertname"], routes=routes, silences=compile_silences(silences(now))
    )
    for a in parsed:  # fingerprints are computed once per alert, as the service does
        _ = a.fingerprint
    started = time.perf_counter()
    changes = []
    for i in range(0, n, 1000):
        changes += book.apply(parsed[i : i + 1000], now)
    engine_s = time.perf_counter() - started
    silenced = sum(1 for c in changes if c.silence_id)
    rate, floor = n / engine_s, n / parse_s
    return Row(
        path=f"alerts in process: {n:,} through dedup, 10 silences and routing",
        measured=f"{rate:,.0f} alerts/s ({len(book.active):,} distinct, {silenced:,} silenced)",
        baseline=f"pydantic parse of the same alerts: {floor:,.0f} alerts/s",
        ratio=rate / floor,
        aim="≥20,000 alerts/s",
        met=rate >= 20_000,
    )


def raw_inserts(bodies: list[list[dict[str, Any]]], path: Path) -> float:
    """Seconds to insert the same rows with sqlite3, one durable transaction per body."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE alerts (id INTEGER PRIMARY KEY, fingerprint TEXT, alertname TEXT,"
        " labels TEXT, annotations TEXT, seen TEXT)"
    )
    started = time.perf_counter()
    for body in bodies:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO alerts (fingerprint, alertname, labels, annotations, seen)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (
                    fingerprint(a["labels"]),
                    a["labels"]["alertname"],
                    json.dumps(a["labels"]),
                    json.dumps(a["annotations"]),
                    datetime.now(UTC).isoformat(),
                )
                for a in body
            ],
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


async def over_http(n: int) -> Row:
    bodies = [[alert(i + j) for j in range(BODY)] for i in range(0, n, BODY)]
    queue = list(bodies)

    async def post(client: httpx.AsyncClient) -> None:
        ok(await client.post("/alerts", json={"alerts": queue.pop()}))

    async with hello_world() as hello:
        floor_s, _ = await hammer(hello.url, len(queue), post)
    with tempfile.TemporaryDirectory() as tmp:
        inserts_s = raw_inserts(bodies, Path(tmp) / "raw.db")
        queue = list(bodies)
        # The monitoring loop's own notifications would share the process: keep it out. One
        # client is the whole load here, so its rate limit is lifted: the path is measured.
        unlimited = {
            "TRIAD_MONITOR": "false",
            "TRIAD_ALERTS__RATE_LIMIT_PER_S": "1000000",
            "TRIAD_ALERTS__RATE_LIMIT_BURST": "1000000",
        }
        async with triad(Path(tmp) / "home", unlimited) as server:
            auth = {"Authorization": f"Bearer {server.token}"}
            cpu = server.cpu_s()
            elapsed, latencies = await hammer(server.url, len(queue), post, headers=auth)
            cpu_ms = (server.cpu_s() - cpu) / n * 1000
    rate = n / elapsed
    return Row(
        path=f"POST /alerts, 16 clients, SQLite: {n:,} alerts, {BODY} a body, stored",
        measured=(
            f"{rate:,.0f} alerts/s; p50 {percentile(latencies, 50) * 1000:.0f} ms a body, "
            f"server CPU {cpu_ms * 1000:.0f} µs an alert"
        ),
        baseline=(
            f"bare FastAPI parsing the same bodies: {n / floor_s:,.0f} alerts/s; raw sqlite3 "
            f"inserts of the same rows: {n / inserts_s:,.0f} rows/s"
        ),
        ratio=rate / (n / floor_s),
        aim="≥1,000 alerts/s",
        met=rate >= 1000,
    )


def bare_psutil(home: Path) -> None:
    psutil.cpu_times()
    psutil.virtual_memory()
    psutil.disk_usage(str(home))


async def health_check(times: int) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        rt = await Runtime.open(Settings(home=home, monitor=False))
        try:
            collectors = default_collectors(rt.powers)
            await check_health(rt.powers, collectors=collectors)  # warm: first CPU reading
            took = []
            for _ in range(times):
                # The loop checks every minute: the CPU sampler's last reading is always
                # older than its shortest span (0.1 s), so a check never waits for it.
                await asyncio.sleep(MIN_CPU_SAMPLE_S)
                started = time.perf_counter()
                await check_health(rt.powers, collectors=collectors)
                took.append(time.perf_counter() - started)
        finally:
            await rt.close()
        bare = []
        for _ in range(times):
            started = time.perf_counter()
            bare_psutil(home)
            bare.append(time.perf_counter() - started)
    check, floor = statistics.median(took), statistics.median(bare)
    return Row(
        path="one full health check (host, database, four branches), SQLite",
        measured=f"median {check * 1000:.1f} ms, p99 {percentile(took, 99) * 1000:.1f} ms",
        baseline=f"the bare psutil calls: median {floor * 1000:.2f} ms",
        ratio=check / floor,
        aim="<50 ms",
        met=check < 0.050,
    )


async def rows(quick: bool) -> list[Row]:
    return [
        in_process(20_000 if quick else 200_000),
        await over_http(5_000 if quick else 50_000),
        await health_check(20 if quick else 100),
    ]


if __name__ == "__main__":
    cli(rows, __doc__)
