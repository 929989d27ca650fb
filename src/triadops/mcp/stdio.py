"""The stdio transport: one assistant, one token (``TRIAD_TOKEN``), over a pipe."""

from __future__ import annotations

from triadops.mcp.calls import TokenCaller
from triadops.mcp.server import build_server
from triadops.runtime import Runtime


async def serve_stdio(runtime: Runtime, token: str) -> None:
    """Serve the tools on stdin and stdout until the client closes the pipe."""
    await build_server(runtime, TokenCaller(token)).run_stdio_async()
