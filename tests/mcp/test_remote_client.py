"""The remote tools' HTTP client: a server that never answers is a tool error, not a hang."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from tests.fixtures.servers import free_port
from triadops.mcp.remote import Server, server_client


async def test_a_server_that_accepts_and_never_answers_times_out() -> None:
    accepted, hung_up = asyncio.Event(), asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        try:
            await reader.read()  # never answers: reads until the client gives up and hangs up
        finally:
            writer.close()
            await writer.wait_closed()
            hung_up.set()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with server_client() as http:
            server = Server(f"http://127.0.0.1:{port}", http, timeout=httpx.Timeout(0.5))
            with pytest.raises(ToolError, match=r"did not answer within 0\.5 s"):
                await server.call("triad_x", "GET", "/whoami")
        await hung_up.wait()
    finally:
        listener.close()
        await listener.wait_closed()
    assert accepted.is_set()


async def test_a_server_that_is_not_there_is_named() -> None:
    async with server_client() as http:
        server = Server(f"http://127.0.0.1:{free_port()}", http)
        with pytest.raises(ToolError, match=r"cannot reach http://127\.0\.0\.1:"):
            await server.call("triad_x", "GET", "/whoami")
