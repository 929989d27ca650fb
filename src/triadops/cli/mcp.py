"""``triad mcp``: serve the MCP tools to an AI assistant, over stdio or streamable HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Annotated

import typer

from triadops.cli.context import BadInput, cli_logging, run
from triadops.cli.hosts import Target, remote_target
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
    ``Authorization: Bearer`` token. With TRIAD_URL (or ``triad login``) the tools call that
    server's API and no database is opened here. No tool approves, acknowledges or unfreezes.
    """
    target = remote_target()
    if target is not None:
        serve_remote(target, http=http, host=host, port=port)
        return
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


def serve_remote(target: Target, *, http: bool, host: str, port: int) -> None:
    """Serve the tools on `target`'s API: no settings read, no database opened here.

    Over HTTP each request's own bearer token is passed on to the server; the target's
    token only reads the catalogue at start.
    """
    from triadops.mcp.http import PATH, serve_remote_http
    from triadops.mcp.stdio import serve_remote_stdio

    with cli_logging(logging.WARNING, secrets=[target.token]):
        if http:
            where = f"http://{host}:{port}{PATH}"
            typer.echo(f"triad mcp: streamable HTTP on {where}, for {target.url}", err=True)
            asyncio.run(serve_remote_http(target.url, target.token, host=host, port=port))
        else:
            asyncio.run(serve_remote_stdio(target.url, target.token))
