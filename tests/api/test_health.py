"""/health answers from the background probe, /ready checks the database on each call."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from tests.fixtures.servers import triad_serve
from triadops.api.app import create_app
from triadops.api.routes.health import PROBE_EVERY_S
from triadops.runtime import Runtime
from triadops.settings import Settings

NEVER_S = 3600.0
"""A probe cadence no test outlasts: only the startup check and /ready touch the database."""


@asynccontextmanager
async def serving(
    settings: Settings, **probe: float
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """Run the app's lifespan with the given probe cadence; yield a client and the runtime."""
    app = create_app(settings, **probe)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, app.state.runtime


class Traffic:
    """What the engine did: statements executed, connections checked out (and at most at once)."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.checkouts = 0
        self.out = 0
        self.most_out = 0


@contextmanager
def watching(rt: Runtime) -> Iterator[Traffic]:
    traffic = Traffic()
    engine = rt.engine.sync_engine

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        traffic.statements.append(statement)

    def checkout(*_: Any) -> None:
        traffic.checkouts += 1
        traffic.out += 1
        traffic.most_out = max(traffic.most_out, traffic.out)

    def checkin(*_: Any) -> None:
        traffic.out -= 1

    listeners = [
        (engine, "before_cursor_execute", executed),
        (engine.pool, "checkout", checkout),
        (engine.pool, "checkin", checkin),
    ]
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    try:
        yield traffic
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)


def checked_at(response: httpx.Response) -> datetime:
    return datetime.fromisoformat(response.json()["checked_at"])


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["frozen"] is False
    assert body["version"]
    assert body["checked_at"]


async def test_health_answers_from_the_probe_without_touching_the_database(
    settings: Settings,
) -> None:
    async with serving(settings, probe_every_s=NEVER_S) as (client, rt):
        with watching(rt) as traffic:
            answers = await asyncio.gather(*(client.get("/health") for _ in range(200)))
    assert {r.status_code for r in answers} == {200}
    assert traffic.statements == [] and traffic.checkouts == 0
    assert len({r.json()["checked_at"] for r in answers}) == 1


async def test_the_probe_runs_in_the_background(settings: Settings) -> None:
    async with serving(settings, probe_every_s=0.05) as (client, rt):
        first = checked_at(await client.get("/health"))
        with watching(rt) as traffic:
            await asyncio.sleep(0.5)
        later = checked_at(await client.get("/health"))
    assert later > first
    assert traffic.checkouts >= 2
    # The lifespan stopped the probe with the app: nothing of it is left running.
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert not names & {"health probe", "health check"}


async def test_ready_checks_the_database_on_each_call(settings: Settings) -> None:
    async with serving(settings, probe_every_s=NEVER_S) as (client, rt):
        seen = []
        for _ in range(3):
            with watching(rt) as traffic:
                response = await client.get("/ready")
            assert response.status_code == 200, response.text
            assert response.json()["database"] == "ok"
            assert traffic.checkouts == 1 and traffic.statements
            seen.append(checked_at(response))
        # /health reports the newest check, whoever made it.
        assert checked_at(await client.get("/health")) == seen[-1]
    assert seen == sorted(seen) and len(set(seen)) == 3


async def test_a_flood_of_ready_calls_holds_one_connection_at_a_time(settings: Settings) -> None:
    async with serving(settings, probe_every_s=NEVER_S) as (client, rt):
        with watching(rt) as traffic:
            answers = await asyncio.gather(*(client.get("/ready") for _ in range(100)))
    assert {r.status_code for r in answers} == {200}
    assert traffic.most_out == 1
    assert 1 <= traffic.checkouts <= 100


async def test_health_and_ready_are_503_when_the_database_does_not_answer(
    tmp_path: Path,
) -> None:
    # Nothing listens on port 1: the engine is built (lazily) but no connection ever works.
    settings = Settings(
        home=f"{tmp_path}/home", database_url="postgresql+asyncpg://triad@127.0.0.1:1/none"
    )
    rt = await Runtime.open(settings, migrate=False)
    app = create_app(settings, runtime=rt)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                health = await client.get("/health")
                ready = await client.get("/ready")
    finally:
        await rt.close()
    for response in (health, ready):
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable" and body["database"] == "unavailable"
        assert body["frozen"] is None
        assert body["reason"] == "the database did not answer (ConnectionRefusedError)"
        assert "127.0.0.1" not in response.text  # nothing about the deployment to strangers


@asynccontextmanager
async def locked_crown_state(settings: Settings) -> AsyncIterator[None]:
    """Hold an exclusive lock on crown_state (PostgreSQL): every read of it waits."""
    url = make_url(settings.resolved_database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE crown_state IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_ready_is_503_when_the_database_is_too_slow_and_health_still_answers(
    settings: Settings,
) -> None:
    async with serving(settings, probe_every_s=NEVER_S, probe_timeout_s=0.5) as (client, _):
        loop = asyncio.get_running_loop()
        async with locked_crown_state(settings):
            started = loop.time()
            ready = await client.get("/ready")
            waited = loop.time() - started
            health = await asyncio.wait_for(client.get("/health"), timeout=1)
        assert ready.status_code == 503
        assert ready.json()["reason"] == "the database did not answer in time (TimeoutError)"
        assert waited < 3
        # Liveness reports the failed check, and answers without waiting for the database.
        assert health.status_code == 503 and health.json()["database"] == "unavailable"
        assert (await client.get("/ready")).status_code == 200


async def test_the_openapi_documents_health_and_readiness(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, operation_id in (("/health", "read_health"), ("/ready", "read_readiness")):
        operation = paths[path]["get"]
        assert operation["operationId"] == operation_id
        for code in ("200", "503"):
            schema = operation["responses"][code]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/Health")


async def test_openapi_describes_the_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/operations", "/operations/{operation_id}/approve", "/audit/verify"} <= set(paths)
    invalid = paths["/operations"]["post"]["responses"]["422"]
    assert invalid["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert (await client.get("/docs")).status_code == 200


async def _set_connections(settings: Settings, *, allowed: bool) -> None:
    """Let clients connect to the test's database, or refuse them and cut those connected."""
    database = make_url(settings.resolved_database_url).database
    admin = make_url(settings.resolved_database_url).set(
        drivername="postgresql", database="postgres"
    )
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
    finally:
        await conn.close()


async def _until(client: httpx.AsyncClient, path: str, code: int, *, timeout_s: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        response = await client.get(path)
        if response.status_code == code:
            return response.json()
        assert loop.time() < deadline, f"{path} still answers {response.status_code}"
        await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_real_server_reports_a_lost_database_at_the_next_probe(
    settings: Settings, tmp_path: Path
) -> None:
    bound = 3 * PROBE_EVERY_S + 5
    try:
        async with (
            triad_serve(settings, tmp_path) as served,
            httpx.AsyncClient(base_url=served.url, timeout=10) as client,
        ):
            before = (await client.get("/health")).json()
            await _set_connections(settings, allowed=False)
            lost = await _until(client, "/health", 503, timeout_s=bound)
            assert lost["database"] == "unavailable" and lost["frozen"] is None
            assert lost["checked_at"] > before["checked_at"]
            assert (await client.get("/ready")).status_code == 503

            await _set_connections(settings, allowed=True)
            back = await _until(client, "/ready", 200, timeout_s=bound)
            assert back["database"] == "ok"
            assert (await client.get("/health")).json()["checked_at"] >= back["checked_at"]
            code = served.stop()
    finally:
        await _set_connections(settings, allowed=True)
    assert code == -signal.SIGTERM, served.log()
    events = served.events()
    assert [e["event"] for e in events if e["event"].startswith("database")] == [
        "database not ready",
        "database ready again",
    ]
    assert not [e for e in events if "Task was destroyed" in str(e)]
    # Probes that answered 200 leave no access line; those that failed do.
    access = [e["event"] for e in events if e["logger"] == "uvicorn.access"]
    assert not [line for line in access if '"GET /health HTTP/1.1" 200' in line]
    assert [line for line in access if '"GET /health HTTP/1.1" 503' in line]
