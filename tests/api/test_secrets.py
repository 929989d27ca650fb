"""Server errors: one structured event with a request id, no secret in it, and no stalled loop."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.fixtures.api import Api, noop_request
from tests.fixtures.servers import issue_token, triad_serve
from triadops.logconfig import (
    TRACEBACK_INNER_FRAMES,
    TRACEBACK_MAX_CHARS,
    TRACEBACK_OUTER_FRAMES,
    logging_configured,
)
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.engine import create_engine

PASSWORD = "hunter2-" + uuid.uuid4().hex[:8]
TARGET_URL = f"postgresql+asyncpg://ops:{PASSWORD}@127.0.0.1:1/prod"
"""A database target whose URL holds a password; nothing listens on port 1."""


Events = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def server_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[Events]:
    """Log as ``triad serve`` does (JSON lines on stderr); yield what reads the events so far."""
    events: list[dict[str, Any]] = []

    def logged() -> list[dict[str, Any]]:
        err = capsys.readouterr().err
        events.extend(json.loads(line) for line in err.splitlines() if line.strip())
        return events

    with logging_configured(logging.INFO, renderer="json"):
        capsys.readouterr()
        yield logged


@pytest.fixture
async def lenient(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that returns a 500 instead of raising the app's exception in the test."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def add_failing_route(app: FastAPI, *, secret: str, message: str, depth: int) -> None:
    """Mount a test-only route that fails `depth` frames down with `secret` in a local."""

    def descend(level: int, secret_in_a_local: str) -> None:
        if level == 0:
            raise RuntimeError(message)
        descend(level - 1, secret_in_a_local)

    async def fail() -> None:
        descend(depth, secret)

    app.add_api_route("/test-only/fail", fail, methods=["GET", "POST"])


def assert_one_plain_event(
    events: list[dict[str, Any]], response: httpx.Response, *, path: str, method: str
) -> dict[str, Any]:
    """Assert the 500 names the id of exactly one well-formed "unhandled error" event."""
    assert response.status_code == 500, response.text
    problem = response.json()
    assert problem["type"] == "urn:triadops:problem:internal"
    request_id = problem["request_id"]
    assert request_id == response.headers["x-request-id"]
    mine = [e for e in events if e.get("request_id") == request_id]
    assert len(mine) == 1, mine
    logged = mine[0]
    assert logged["event"] == "unhandled error"
    assert (logged["level"], logged["method"], logged["path"]) == ("error", method, path)
    assert logged["error_type"]
    assert logged["exception"].startswith(("Traceback", "["))
    assert len(logged["exception"]) <= TRACEBACK_MAX_CHARS
    return logged


async def test_a_bug_logs_one_bounded_event_without_locals_or_passwords(
    app: FastAPI, api: Api, lenient: httpx.AsyncClient, server_logging: Events
) -> None:
    secret = "local-" + uuid.uuid4().hex
    add_failing_route(app, secret=secret, message=f"cannot reach {TARGET_URL}", depth=60)
    token = api.tokens["alice"]
    response = await lenient.get("/test-only/fail")
    posted = await lenient.post(
        "/test-only/fail",
        headers={"X-Request-ID": "caller-id.1", "Authorization": f"Bearer {token}"},
    )

    events = server_logging()
    logged = assert_one_plain_event(events, response, path="/test-only/fail", method="GET")
    assert logged["error_type"] == "builtins.RuntimeError"
    frames = logged["exception"].count('File "')
    assert frames <= TRACEBACK_OUTER_FRAMES + TRACEBACK_INNER_FRAMES
    assert "frames cut]" in logged["exception"]
    assert "ops:***@127.0.0.1:1/prod" in logged["exception"]
    assert posted.json()["request_id"] == "caller-id.1"
    assert_one_plain_event(events, posted, path="/test-only/fail", method="POST")
    everything = json.dumps(events)
    assert token not in everything
    assert PASSWORD not in everything
    assert secret not in everything
    assert "secret_in_a_local" in everything  # the frames are there, their values are not


async def test_a_huge_error_message_is_cut_to_the_cap_and_still_masked(
    app: FastAPI, lenient: httpx.AsyncClient, server_logging: Events
) -> None:
    add_failing_route(app, secret="-", message="x" * 200_000 + f" via {TARGET_URL}", depth=1)
    response = await lenient.get("/test-only/fail")
    events = server_logging()
    logged = assert_one_plain_event(events, response, path="/test-only/fail", method="GET")
    assert logged["exception"].endswith("via postgresql+asyncpg://ops:***@127.0.0.1:1/prod")
    assert PASSWORD not in json.dumps(events)


async def test_a_failure_inside_authentication_never_logs_the_token(
    api: Api, rt: Runtime, lenient: httpx.AsyncClient, server_logging: Events
) -> None:
    async with rt.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE tokens RENAME TO tokens_gone"))
    token = api.tokens["alice"]
    headers = {"Authorization": f"Bearer {token}"}
    read = await lenient.get("/operations", headers=headers)
    write = await lenient.post("/operations", headers=headers, json=noop_request())

    events = server_logging()
    assert_one_plain_event(events, read, path="/operations", method="GET")
    assert_one_plain_event(events, write, path="/operations", method="POST")
    everything = json.dumps(events)
    assert token not in everything
    secret_part = token.removeprefix("triad_")
    assert not any(secret_part[i : i + 10] in everything for i in range(len(secret_part) - 9))
    assert "SQL parameters hidden" in everything


@pytest.mark.parametrize(
    ("offered", "kept"),
    [("caller-1.A_b", True), ("x" * 64, True), ("x" * 65, False), ("a b", False), ("", False)],
)
async def test_every_answer_carries_a_request_id(api: Api, offered: str, kept: bool) -> None:
    response = await api.client.get("/health", headers={"X-Request-ID": offered})
    again = await api.client.get("/health")
    if kept:
        assert response.headers["x-request-id"] == offered
    else:
        assert len(response.headers["x-request-id"]) == 32
        int(response.headers["x-request-id"], 16)
    assert again.headers["x-request-id"] not in (offered, response.headers["x-request-id"])
    refused = await api.client.post("/operations", json=noop_request())
    assert refused.status_code == 401 and len(refused.headers["x-request-id"]) == 32


async def test_sql_errors_carry_no_parameter_values(database_url: str) -> None:
    engine = create_engine(database_url)
    secret = "param-" + uuid.uuid4().hex
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE probe (k VARCHAR(10) PRIMARY KEY, v TEXT)"))
        insert = text("INSERT INTO probe (k, v) VALUES (:k, :v)")
        async with engine.begin() as conn:
            await conn.execute(insert, {"k": "one", "v": "first"})
        with pytest.raises(IntegrityError) as caught:
            async with engine.begin() as conn:
                await conn.execute(insert, {"k": "one", "v": secret})
    finally:
        await engine.dispose()
    assert secret not in str(caught.value)
    assert "SQL parameters hidden" in str(caught.value)


async def break_authentication(settings: Settings) -> None:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE tokens RENAME TO tokens_gone"))
    finally:
        await engine.dispose()


HEALTH_BOUND_S = 5.0
"""/health takes milliseconds here; before the fix one error held the loop for about 7 s."""
CLIENTS, ROUNDS = 20, 3
"""Twenty concurrent clients, each failing three times in a row: a burst /health lands in."""


@pytest.mark.slow
async def test_a_real_server_logs_no_secret_and_answers_health_during_twenty_500s(
    settings: Settings, tmp_path: Path
) -> None:
    token = await issue_token(settings)
    target = {"TRIAD_DATABASE_TARGETS__replica": TARGET_URL}
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        triad_serve(settings, tmp_path, env=target) as served,
        httpx.AsyncClient(base_url=served.url, timeout=60) as client,
    ):
        # A target that refuses connections, named by a caller: its URL holds a password.
        vacuum = noop_request(
            steps=[{"action": "database.vacuum_analyze", "params": {"target": "replica"}}]
        )
        await client.post("/operations", headers=auth, json=vacuum)
        await break_authentication(settings)

        async def fail_in_a_row() -> list[httpx.Response]:
            return [await client.get("/operations", headers=auth) for _ in range(ROUNDS)]

        errors = [asyncio.create_task(fail_in_a_row()) for _ in range(CLIENTS)]
        latencies: list[float] = []
        answered_during_errors = 0
        loop = asyncio.get_running_loop()
        while not all(task.done() for task in errors):
            started = loop.time()
            health = await client.get("/health", timeout=HEALTH_BOUND_S)
            latencies.append(loop.time() - started)
            assert health.status_code == 200, health.text
            answered_during_errors += not all(task.done() for task in errors)
            await asyncio.sleep(0.02)
        responses = [response for task in errors for response in task.result()]
        code = served.stop()

    assert code == -signal.SIGTERM, served.log()
    assert answered_during_errors >= 1
    assert max(latencies) < HEALTH_BOUND_S
    events = served.events()  # every line of the log is one JSON event
    unhandled = [e for e in events if e["event"] == "unhandled error"]
    assert len(responses) == CLIENTS * ROUNDS
    for response in responses:
        assert_one_plain_event(unhandled, response, path="/operations", method="GET")
    # One event per error: the server does not log the same error again on its own.
    assert not [e for e in events if e["logger"].startswith("uvicorn") and e["level"] == "error"]
    log = served.log()
    assert PASSWORD not in log
    assert token not in log and token.removeprefix("triad_")[:16] not in log
