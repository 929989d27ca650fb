"""``GET /constitutional-health`` over the app: open, read-only, shared, and secret-free."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import AnyHttpUrl

from tests.fixtures.servers import free_port
from triadops.api.routes import monitoring
from triadops.domain.clock import utcnow
from triadops.domain.health import CheckStatus, HealthCheck
from triadops.ops.health import RequestCounts, save_report
from triadops.ops.health.report import build_report
from triadops.runtime import Runtime
from triadops.settings import HealthSettings, Settings

PASSWORD = "hunter2-Zq"
TARGET_PASSWORD = "s3cret-Xy"
DB_PORT = free_port()
TARGET_PORT = free_port()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The test's database, plus a database target and an HTTP target with credentials."""
    home = tmp_path / "home"
    home.mkdir()
    target = AnyHttpUrl(f"http://ops:{TARGET_PASSWORD}@127.0.0.1:{TARGET_PORT}/status")
    return Settings(
        home=home,
        database_url=database_url,
        database_targets={
            "orders": f"postgresql+asyncpg://ops:{PASSWORD}@127.0.0.1:{DB_PORT}/orders"
        },
        health=HealthSettings(http_targets={"shop": target}, collector_timeout_s=2.0),
    )


def _secret_free(body: str) -> None:
    for secret in (PASSWORD, TARGET_PASSWORD, str(DB_PORT), str(TARGET_PORT), "ops:", "://"):
        assert secret not in body, secret


async def test_no_token_is_needed_and_no_secret_is_in_the_answer(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/constitutional-health")

    assert response.status_code == 200, response.text
    _secret_free(response.text)
    body = response.json()
    assert body["stored"] is False and body["id"] is None and body["age_s"] >= 0
    assert "counters" not in body
    parts = {c["name"]: c for c in body["components"]}
    # The API's own error rate shows where the app counts its requests.
    assert [name for name in parts if name != "api"] == [
        "host",
        "database",
        "targets",
        "legislative",
        "executive",
        "judicial",
        "crown",
    ]
    databases = {c["system"]: c for c in parts["database"]["checks"]}
    assert databases["triad"]["status"] == "pass"
    assert (databases["orders"]["status"], databases["orders"]["alertname"]) == (
        "fail",
        "DatabaseDown",
    )
    (shop,) = parts["targets"]["checks"]
    assert (shop["system"], shop["status"], shop["alertname"]) == ("shop", "fail", "TargetDown")
    assert {"DatabaseDown", "TargetDown"} <= {a["alertname"] for a in body["alerts"]}


async def test_a_fresh_stored_report_is_served_as_stored(
    app: FastAPI, client: httpx.AsyncClient, rt: Runtime
) -> None:
    check = HealthCheck(name="c", component="drill", status=CheckStatus.PASS)
    old = build_report([check], checked_at=utcnow() - timedelta(minutes=10), duration_s=0.0)
    await save_report(rt.powers, old)

    # Ten minutes is past twice the loop's interval: checked now, and not stored.
    live = (await client.get("/constitutional-health")).json()
    assert live["stored"] is False and "drill" not in [c["name"] for c in live["components"]]

    fresh = await save_report(rt.powers, build_report([check], checked_at=utcnow(), duration_s=0.0))
    # Forget the shared answer, as `ANSWER_REUSE_S` passing would.
    setattr(app.state, monitoring.ANSWERS_STATE, None)
    served = (await client.get("/constitutional-health")).json()
    assert served["stored"] is True and served["id"] == fresh.id
    assert [c["name"] for c in served["components"]] == ["drill"]
    assert 0 <= served["age_s"] < 60

    listed = (await client.get("/constitutional-health/history")).json()
    assert [i["id"] for i in listed["items"]] == [fresh.id, fresh.id - 1]
    assert listed["next_before"] is None


async def test_a_flood_of_callers_shares_one_check(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(*(client.get("/constitutional-health") for _ in range(20)))
    assert {r.status_code for r in answers} == {200}
    assert len({r.json()["checked_at"] for r in answers}) == 1
    again = await client.get("/constitutional-health")
    assert again.json()["checked_at"] == answers[0].json()["checked_at"]


async def test_the_apis_error_rate_shows_where_requests_are_counted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    counts = RequestCounts()
    for code in (200, 200, 500):
        counts.count(code)
    setattr(app.state, monitoring.REQUEST_COUNTS_STATE, counts)

    body = (await client.get("/constitutional-health")).json()

    api = next(c for c in body["components"] if c["name"] == "api")
    (rate,) = api["checks"]
    assert (rate["status"], rate["value"]) == ("fail", round(1 / 3, 6))


async def test_history_pages_and_refuses_bad_input_with_a_problem(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    check = HealthCheck(name="c", component="drill", status=CheckStatus.PASS)
    ids = [
        (await save_report(rt.powers, build_report([check], checked_at=utcnow(), duration_s=0))).id
        for _ in range(3)
    ]
    first = (await client.get("/constitutional-health/history", params={"limit": 2})).json()
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
    assert first["next_before"] == ids[1]
    rest = await client.get(
        "/constitutional-health/history", params={"limit": 2, "before": first["next_before"]}
    )
    assert [i["id"] for i in rest.json()["items"]] == [ids[0]]
    assert rest.json()["next_before"] is None

    for params in ({"limit": 0}, {"limit": 1001}, {"before": 0}, {"before": "x"}):
        bad = await client.get("/constitutional-health/history", params=params)
        assert bad.status_code == 422, params
        assert bad.headers["content-type"] == "application/problem+json"
