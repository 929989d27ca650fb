from __future__ import annotations

import httpx

from tests.fixtures.api import Api, drive, noop_request
from triadops.api.app import create_app
from triadops.runtime import Runtime
from triadops.settings import Settings


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["frozen"] is False
    assert body["version"]


async def test_health_is_503_when_the_database_does_not_answer(tmp_path: object) -> None:
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
                response = await client.get("/health")
    finally:
        await rt.close()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database"] == "unavailable"


async def test_metrics_count_operations_by_status(api: Api, rt: Runtime) -> None:
    await api.submit(noop_request())
    await api.submit(noop_request())
    await drive(rt)
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'triad_operations{status="completed"} 2.0' in text
    assert 'triad_operations{status="scheduled"} 0.0' in text
    assert "triad_frozen 0.0" in text
    ledger = next(line for line in text.splitlines() if line.startswith("triad_ledger_entries "))
    assert float(ledger.split()[1]) > 10
    assert "op-" not in text


async def test_openapi_describes_the_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/operations", "/operations/{operation_id}/approve", "/audit/verify"} <= set(paths)
    invalid = paths["/operations"]["post"]["responses"]["422"]
    assert invalid["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert (await client.get("/docs")).status_code == 200
