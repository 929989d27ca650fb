"""The MCP server as an assistant meets it: ``triad mcp`` run for real, the SDK's own client.

Over stdio the client spawns ``triad mcp`` with a token in its environment; over HTTP a real
``triad mcp --http`` listens on a free loopback port and each request carries a token.
Tokens come from the API fixtures (`tokens`), so a test can compare with the API itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, Implementation

from tests.fixtures.servers import free_port
from triadops.settings import Settings

ASSISTANT = Implementation(name="test-assistant", version="1.0")
"""The name the client gives in MCP's clientInfo, which the operation records."""


def triad_env(settings: Settings, **more: str) -> dict[str, str]:
    """The environment of a ``triad mcp`` on the test's database (this checkout's code)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")},
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
        "TRIAD_CONFIG": "",
        "TRIAD_MONITOR": "false",
        **more,
    }


def over_stdio(settings: Settings, token: str) -> Client:
    """A client that spawns ``triad mcp`` with `token` as TRIAD_TOKEN."""
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "triadops.cli.main", "mcp"],
        env=triad_env(settings, TRIAD_TOKEN=token),
        cwd=str(settings.home),
    )
    return Client(command, client_info=ASSISTANT, read_timeout_seconds=60)


@dataclass
class McpHttp:
    """A running ``triad mcp --http``."""

    url: str
    log: Path
    pid: int

    @asynccontextmanager
    async def client(self, token: str) -> AsyncIterator[Client]:
        """Connect with the SDK's client, every request carrying `token`."""
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            transport = streamable_http_client(self.url, http_client=http)
            async with Client(transport, client_info=ASSISTANT, read_timeout_seconds=60) as c:
                yield c


@pytest.fixture
async def mcp_http(settings: Settings, tmp_path: Path) -> AsyncIterator[McpHttp]:
    """Run ``triad mcp --http`` on a free port until the test ends; ready once it answers."""
    port = free_port()
    log = tmp_path / "mcp.stderr"
    command = [sys.executable, "-m", "triadops.cli.main", "mcp", "--http", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=triad_env(settings), cwd=tmp_path, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        await _answering(process, url, log)
        yield McpHttp(url, log, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _answering(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Wait until the server answers at all (401 to a request without a token)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if (await client.post(url, json={})).status_code == 401:
                    return
            except httpx.TransportError:
                pass
            assert loop.time() < deadline, f"triad mcp did not answer:\n{log.read_text()}"
            await asyncio.sleep(0.1)


def answer(result: CallToolResult) -> Any:
    """Return a successful tool call's structured answer (the tool's return value)."""
    assert not result.is_error, text(result)
    data = result.structured_content
    assert data is not None, text(result)
    return data.get("result", data) if set(data) == {"result"} else data


def text(result: CallToolResult) -> str:
    """Return the text of a tool call's content (an error's message)."""
    return " ".join(getattr(part, "text", "") for part in result.content)


def loads(result: CallToolResult) -> Any:
    """Parse the JSON text of a tool call's content."""
    return json.loads(text(result))
