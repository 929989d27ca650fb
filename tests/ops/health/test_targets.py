"""HTTP targets against a real local server; databases' round trips on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import AnyHttpUrl

from tests.fixtures.servers import free_port
from triadops.domain.health import CheckStatus, HealthCheck
from triadops.ops.health import Reading, check_health, run_collectors
from triadops.ops.health.targets import DatabaseCollector, HttpTargetCollector
from triadops.runtime import Runtime
from triadops.storage.targets import DatabaseTargets

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ANSWERS = {"/ok": b"200 OK", "/down": b"503 Service Unavailable", "/missing": b"404 Not Found"}
SLOW_S = 1.0


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer one request by its path: /ok 200, /down 503, /missing 404, /slow late."""
    try:
        request_line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        path = request_line.split()[1].decode()
        if path == "/slow":
            await asyncio.sleep(SLOW_S)
        status = ANSWERS.get(path, b"200 OK")
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        )
        await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A real HTTP server on a local port; yields its base URL."""
    listening = await asyncio.start_server(_answer, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield f"http://127.0.0.1:{port}"
        listening.close()
        await listening.wait_closed()


async def _check(name: str, url: str, *, threshold_s: float = 0.5) -> HealthCheck:
    (check,) = await run_collectors(
        [HttpTargetCollector(name, url, threshold_s=threshold_s)], Reading(now=NOW), timeout_s=3
    )
    return check


async def test_a_target_that_answers_200_passes(server: str) -> None:
    check = await _check("shop", f"{server}/ok")
    assert check.status is CheckStatus.PASS
    assert check.name == "target.shop.response_s" and check.system == "shop"
    assert check.value is not None and 0 < check.value < 0.5
    assert check.detail == "HTTP 200"


async def test_a_4xx_still_shows_the_service_up(server: str) -> None:
    check = await _check("shop", f"{server}/missing")
    assert (check.status, check.detail) == (CheckStatus.PASS, "HTTP 404")


async def test_a_target_that_answers_503_is_down(server: str) -> None:
    check = await _check("shop", f"{server}/down")
    assert (check.status, check.alertname, check.detail) == (
        CheckStatus.FAIL,
        "TargetDown",
        "HTTP 503",
    )


async def test_a_slow_target_fails_at_its_response_time(server: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    check = await _check("shop", f"{server}/slow", threshold_s=0.2)
    assert loop.time() - started < SLOW_S
    assert (check.status, check.alertname, check.value) == (CheckStatus.FAIL, "TargetSlow", None)
    assert check.detail == "no answer within 0.2 s"


async def test_a_port_that_refuses_is_down() -> None:
    check = await _check("gone", f"http://127.0.0.1:{free_port()}/")
    assert (check.status, check.alertname) == (CheckStatus.FAIL, "TargetDown")
    assert check.detail == "no answer (ConnectError)"


async def test_credentials_in_a_target_url_never_reach_the_report(
    runtime: Runtime, server: str
) -> None:
    secret = "s3cret-pa55"
    runtime.settings.health.http_targets = {
        "shop": AnyHttpUrl(f"http://ops:{secret}@127.0.0.1:{server.rsplit(':', 1)[1]}/ok"),
        "gone": AnyHttpUrl(f"http://ops:{secret}@127.0.0.1:{free_port()}/"),
    }
    report = await check_health(runtime.powers, now=NOW)
    targets = next(c for c in report.components if c.name == "targets")
    assert [(c.system, c.status) for c in targets.checks] == [
        ("gone", CheckStatus.FAIL),
        ("shop", CheckStatus.PASS),
    ]
    dumped = report.model_dump_json()
    assert secret not in dumped and "ops:" not in dumped and "127.0.0.1" not in dumped


async def test_database_latency_on_triads_own_database(runtime: Runtime) -> None:
    (check,) = await run_collectors(
        [DatabaseCollector(runtime.databases, "triad", threshold_s=5.0)],
        Reading(now=NOW),
        timeout_s=5,
    )
    assert check.status is CheckStatus.PASS
    assert check.name == "database.triad.latency_s"
    assert check.value is not None and 0 < check.value < 5.0


async def test_a_database_that_refuses_is_down_and_its_url_stays_hidden(runtime: Runtime) -> None:
    port = free_port()
    databases = DatabaseTargets(
        runtime.engine,
        {
            "orders": f"postgresql+asyncpg://ops:hunter2@127.0.0.1:{port}/orders",
            "slowpoke": runtime.settings.resolved_database_url,
        },
    )
    try:
        checks = await run_collectors(
            [
                DatabaseCollector(databases, name, threshold_s=1e-9)
                for name in ("orders", "slowpoke")
            ],
            Reading(now=NOW),
            timeout_s=5,
        )
    finally:
        await databases.dispose()
    orders, slowpoke = checks
    assert (orders.status, orders.alertname) == (CheckStatus.FAIL, "DatabaseDown")
    assert orders.detail.startswith("no answer (")
    assert "hunter2" not in orders.model_dump_json() and str(port) not in orders.detail
    # A database that answers, but slower than its threshold.
    assert (slowpoke.status, slowpoke.alertname) == (CheckStatus.FAIL, "DatabaseSlow")
    assert slowpoke.value is not None and slowpoke.value > 0


async def test_one_dead_target_is_one_alert_at_its_rules_severity(runtime: Runtime) -> None:
    runtime.settings.health.http_targets = {"gone": AnyHttpUrl(f"http://127.0.0.1:{free_port()}/")}
    report = await check_health(runtime.powers, now=NOW)
    targets = next(c for c in report.components if c.name == "targets")
    assert (targets.score, targets.status.value) == (0.0, "unhealthy")  # shown as it is
    # The target rule owns the dead target: TargetDown, a warning, and no component alert
    # counting the same failure again.
    raised = [(a.alertname, a.severity.value) for a in report.alerts if a.component == "targets"]
    assert raised == [("TargetDown", "warning")]
