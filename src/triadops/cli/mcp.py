"""``triad mcp``: serve the MCP tools to an AI assistant, over stdio or streamable HTTP."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from triadops.cli.context import BadInput, run
from triadops.constitution.crown.tokens import authenticate
from triadops.runtime import Runtime

LOOPBACK = "127.0.0.1"


def mcp_command(
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")
    ] = False,
    host: Annotated[str, typer.Option(help="With --http: the address to listen on.")] = LOOPBACK,
    port: Annotated[int, typer.Option(min=1, max=65535, help="With --http: the port.")] = 8765,
) -> None:
    """Serve triad's MCP tools: read, and submit, amend or cancel operations with a token.

    Over stdio every call is TRIAD_TOKEN's principal (required). Over HTTP (``--http``,
    loopback unless --host says otherwise) every request needs its own
    ``Authorization: Bearer`` token. No tool approves, acknowledges or unfreezes.
    """
    # Imported here: only ``triad mcp`` pays for the MCP SDK's imports.
    from triadops.mcp.http import PATH, serve_http
    from triadops.mcp.stdio import serve_stdio

    token = os.environ.get("TRIAD_TOKEN", "").strip()
    if not http and not token:
        raise BadInput("triad mcp needs TRIAD_TOKEN: the token whose principal the assistant is")

    async def work(rt: Runtime) -> None:
        await rt.check_governance(writer=f"triad mcp on {socket.gethostname()}")
        if http:
            typer.echo(f"triad mcp: streamable HTTP on http://{host}:{port}{PATH}", err=True)
            await serve_http(rt, host=host, port=port)
            return
        async with rt.session(read_only=True) as session:
            await authenticate(session, token)  # a bad token refuses to start, in one line
        await serve_stdio(rt, token)

    run(work, serves=True)
