"""Sixteen HTTP clients submitting noops to ``triad serve``, measured until every one completed.

Beside it, the same clients POST the same bodies to a FastAPI hello-world that only validates
and echoes them: the framework's floor on this machine, in this run.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from serving import hammer, hello_world, ok, triad
from table import Row, percentile

NOOP = {
    "operation_type": "maintenance",
    "constitutional_authority": "executive",
    "description": "benchmark noop",
    "steps": [{"action": "noop", "params": {}}],
}


async def completed(client: httpx.AsyncClient) -> int:
    """How many operations the server reports completed, from its Prometheus gauge."""
    families = text_string_to_metric_families(ok(await client.get("/metrics")).text)
    return sum(
        int(sample.value)
        for family in families
        if family.name == "triad_operations"
        for sample in family.samples
        if sample.labels["status"] == "completed"
    )


async def rows(quick: bool) -> list[Row]:
    n = 300 if quick else 2000

    async def post(client: httpx.AsyncClient) -> None:
        ok(await client.post("/operations", json=NOOP))

    async with hello_world() as hello:
        floor_s, _ = await hammer(hello.url, n, post)
    with tempfile.TemporaryDirectory() as tmp:
        async with triad(Path(tmp)) as server:
            auth = {"Authorization": f"Bearer {server.token}"}
            cpu = server.cpu_s()
            started = time.perf_counter()
            submit_s, latencies = await hammer(server.url, n, post, headers=auth)
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as watcher:
                while (done := await completed(watcher)) < n:
                    assert time.perf_counter() - started < 600, f"only {done} of {n} completed"
                    await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            cpu_ms = (server.cpu_s() - cpu) / n * 1000
    rate, floor = n / elapsed, n / floor_s
    return [
        Row(
            path=f"HTTP, {16} clients, SQLite: {n} noops submitted to completed",
            measured=(
                f"{rate:.0f} ops/s; POST p50 {percentile(latencies, 50) * 1000:.0f} ms, "
                f"p99 {percentile(latencies, 99) * 1000:.0f} ms; server CPU {cpu_ms:.1f} ms/op "
                f"(submitted in {submit_s:.1f}s)"
            ),
            baseline=f"FastAPI hello-world POST of the same body: {floor:.0f} req/s",
            ratio=rate / floor,
            aim="≥300 ops/s",
            met=rate >= 300,
        )
    ]
