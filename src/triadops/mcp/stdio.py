"""The stdio transport: one assistant, one token (``TRIAD_TOKEN``), over a pipe."""

from __future__ import annotations

from triadops.mcp.calls import TokenCaller
from triadops.mcp.local import LocalTools
from triadops.mcp.remote import FixedToken, RemoteTools, Server, connect, server_client
from triadops.mcp.server import build_server
from triadops.runtime import Runtime


async def serve_stdio(runtime: Runtime, token: str) -> None:
    """Serve the tools on `runtime`'s database on stdin and stdout until the pipe closes."""
    await build_server(LocalTools(runtime, TokenCaller(token))).run_stdio_async()


async def serve_remote_stdio(url: str, token: str) -> None:
    """Serve the tools on the server at `url`, as `token`'s principal, over stdin and stdout.

    The token is checked and the server's procedures read before the first message: a bad
    token or an unreachable server refuses to start, in one line.
    """
    async with server_client() as http:
        server = Server(url, http)
        catalogue = await connect(server, token)
        tools = RemoteTools(server, FixedToken(token), catalogue)
        await build_server(tools).run_stdio_async()
