"""Bodies: no byte is read before the token is checked, and none past max_body_bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.fixtures.api import Api, noop_request
from tests.fixtures.servers import triad_serve
from triadops.runtime import Runtime
from triadops.settings import Settings

MIB = 1024 * 1024
CHUNK = 64 * 1024


class CountingBody:
    """A request body streamed in chunks that counts how many bytes the app pulled."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            piece = self.data[start : start + CHUNK]
            self.pulled += len(piece)
            yield piece


def padded(body: dict[str, Any], size: int) -> bytes:
    """Return `body` as JSON padded with whitespace to exactly `size` bytes: still valid."""
    text = json.dumps(body).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


def declared(body: CountingBody) -> dict[str, str]:
    """Headers that announce the body's length (without them httpx streams it chunked)."""
    return {"Content-Length": str(len(body.data)), "Content-Type": "application/json"}


def assert_too_large(response: Any) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:triadops:problem:payload-too-large"
    assert problem["status"] == 413
    assert problem["field"] is None
    assert problem["title"] and str(MIB) in problem["detail"]


@pytest.mark.parametrize("length", ["declared", "chunked"])
@pytest.mark.parametrize(
    "authorization", [None, "Bearer triad_not-a-token", "Basic YTpi"], ids=["none", "bad", "basic"]
)
async def test_a_large_body_without_a_valid_token_is_refused_unread(
    api: Api, length: str, authorization: str | None
) -> None:
    body = CountingBody(padded(noop_request(), 5 * MIB))
    headers = declared(body) if length == "declared" else {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    response = await api.client.post("/operations", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"] == "urn:triadops:problem:unauthenticated"
    assert body.pulled == 0
    assert (await api.get("/operations")).json()["items"] == []


async def test_a_declared_body_over_the_cap_is_413_unread_and_nothing_stored(
    api: Api, settings: Settings
) -> None:
    assert settings.max_body_bytes == MIB
    # Valid JSON of a request that would be stored if it were read: only its size is wrong.
    body = CountingBody(padded(noop_request(), MIB + 1))
    headers = {**api.auth("alice"), **declared(body)}
    response = await api.client.post("/operations", content=body, headers=headers)
    assert_too_large(response)
    assert body.pulled == 0
    assert (await api.get("/operations")).json()["items"] == []


async def test_a_chunked_body_is_cut_off_once_past_the_cap(api: Api) -> None:
    body = CountingBody(padded(noop_request(), 5 * MIB))
    headers = {**api.auth("alice"), "Content-Type": "application/json"}
    response = await api.client.post("/operations", content=body, headers=headers)
    assert_too_large(response)
    # Read up to the cap and the one chunk that crossed it, not the other 4 MiB.
    assert MIB < body.pulled <= MIB + CHUNK
    assert (await api.get("/operations")).json()["items"] == []


@pytest.mark.parametrize("length", ["declared", "chunked"])
async def test_a_body_of_exactly_the_cap_is_accepted_and_one_byte_more_is_not(
    api: Api, length: str
) -> None:
    for size, expected in ((MIB, 201), (MIB + 1, 413)):
        body = CountingBody(padded(noop_request(), size))
        headers = api.auth("alice") | (
            declared(body) if length == "declared" else {"Content-Type": "application/json"}
        )
        response = await api.client.post("/operations", content=body, headers=headers)
        assert response.status_code == expected, response.text
    assert len((await api.get("/operations")).json()["items"]) == 1


async def test_a_small_body_still_works_and_its_token_is_looked_up_once(
    api: Api, rt: Runtime
) -> None:
    lookups: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM tokens" in statement:
            lookups.append(statement)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", record)
    try:
        created = await api.submit(noop_request())
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", record)
    assert created["operation_id"]
    # The guard checked the token before reading the body; the route reused that identity.
    assert len(lookups) == 1, lookups


@pytest.mark.slow
async def test_a_real_server_answers_401_before_a_300_mb_body_arrives(
    settings: Settings, tmp_path: Path
) -> None:
    async with triad_serve(settings, tmp_path) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        head = (
            "POST /operations HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {300 * MIB}\r\n\r\n"
        )
        writer.write(head.encode())
        await writer.drain()
        # Not one byte of the body is sent: the answer must not wait for it.
        status_line = await asyncio.wait_for(reader.readline(), timeout=15)
        writer.close()
        await writer.wait_closed()
    assert status_line.startswith(b"HTTP/1.1 401 "), status_line
