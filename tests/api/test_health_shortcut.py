"""``GET /health`` is answered by `HealthShortcut` before the router, exactly as the route would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import Response

from tests.api.test_health import NEVER_S
from triadops.api.app import create_app
from triadops.api.routes.health import PROBE_STATE, DatabaseProbe
from triadops.runtime import Runtime
from triadops.settings import Settings

COMPARED = ("content-type", "content-length")


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def routed(app: FastAPI) -> Response:
    """Return what the /health route itself answers now."""
    probe: DatabaseProbe = getattr(app.state, PROBE_STATE)
    return probe.answer()


def same_answer(fast: httpx.Response, route: Response) -> None:
    assert fast.status_code == route.status_code
    assert fast.content == route.body
    assert {h: fast.headers[h] for h in COMPARED} == {h: route.headers[h] for h in COMPARED}


def health_counted(text: str) -> tuple[float, float]:
    """Return (requests counted for GET /health 200, durations observed for /health)."""
    counted = observed = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("route") != "/health":
                continue
            if sample.name == "triad_http_requests_total" and sample.labels["status"] == "200":
                counted = sample.value
            if sample.name == "triad_http_request_duration_seconds_count":
                observed = sample.value
    return counted, observed


async def test_the_shortcut_answers_as_the_route_and_keeps_the_request_id(
    settings: Settings,
) -> None:
    app = create_app(settings, probe_every_s=NEVER_S)
    async with serving(app) as client:
        fast = await client.get("/health", headers={"X-Request-ID": "probe-1.a_b"})
        route = routed(app)
        fresh = await client.get("/health", headers={"X-Request-ID": "not well formed!"})
    assert fast.status_code == 200
    same_answer(fast, route)
    assert fast.headers["x-request-id"] == "probe-1.a_b"
    assert fresh.headers["x-request-id"] != "not well formed!"
    assert len(fresh.headers["x-request-id"]) == 32


async def test_health_answered_by_the_shortcut_is_counted_in_metrics(settings: Settings) -> None:
    app = create_app(settings, probe_every_s=NEVER_S)
    async with serving(app) as client:
        before = app.state.request_counts.read()
        for _ in range(5):
            assert (await client.get("/health")).status_code == 200
        after = app.state.request_counts.read()
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert health_counted(scraped.text) == (5, 5)
    assert (after[0] - before[0], after[1] - before[1]) == (5, 0)


async def test_a_503_from_the_shortcut_matches_the_route_and_counts_as_a_server_error(
    tmp_path: Path,
) -> None:
    # Nothing listens on port 1: every probe fails, so /health answers 503.
    settings = Settings(
        home=f"{tmp_path}/home", database_url="postgresql+asyncpg://triad@127.0.0.1:1/none"
    )
    rt = await Runtime.open(settings, migrate=False)
    app = create_app(settings, runtime=rt, probe_every_s=NEVER_S)
    try:
        async with serving(app) as client:
            before = app.state.request_counts.read()
            fast = await client.get("/health")
            after = app.state.request_counts.read()
            route = routed(app)
    finally:
        await rt.close()
    assert fast.status_code == 503
    same_answer(fast, route)
    assert fast.json()["database"] == "unavailable"
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
