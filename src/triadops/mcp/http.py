"""The streamable HTTP transport: every request proves a token before any tool runs.

`BearerGuard` wraps the SDK's app. A request without ``Authorization: Bearer <token>``, or
with a token that is unknown or revoked, is answered 401 and never reaches the MCP layer.
Locally the identity the token proved rides the request's scope to the tool
(`calls.RequestCaller`); against a remote server (``TRIAD_URL``) the server is asked about
the token (``GET /whoami``) and the token itself rides the scope, so each call goes to the
server with the token its request came with (`remote.RequestToken`): the guard is a fast
refusal, the server's gates decide. Identity is per request, not per MCP session: a
session id alone proves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import uvicorn
from mcp.server.mcpserver.exceptions import ToolError
from starlette.types import ASGIApp, Receive, Scope, Send

from triadops.constitution.crown.tokens import authenticate
from triadops.domain.errors import Unauthenticated
from triadops.mcp.calls import IDENTITY_SCOPE, RequestCaller
from triadops.mcp.local import LocalTools
from triadops.mcp.remote import (
    TOKEN_SCOPE,
    RemoteTools,
    RequestToken,
    Server,
    admit,
    connect,
    server_client,
)
from triadops.mcp.server import build_server
from triadops.runtime import Runtime

PATH = "/mcp"
"""Where the MCP endpoint listens."""

Admit = Callable[[str, Scope], Awaitable[None]]
"""Checks a request's bearer token and leaves what it proved on the scope; Unauthenticated
when it proves nothing."""


class BearerGuard:
    """Refuse (401) every HTTP request without a valid bearer token; pass the rest on."""

    def __init__(self, app: ASGIApp, admit: Admit) -> None:
        self.app = app
        self.admit = admit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the token of an HTTP request; lifespan events pass untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.admit(bearer(scope), scope)
        except Unauthenticated as exc:
            await refuse(send, 401, "Unauthenticated", exc.message)
            return
        except ToolError as exc:  # the remote server could not say
            await refuse(send, 502, "Bad Gateway", str(exc))
            return
        await self.app(scope, receive, send)


def bearer(scope: Scope) -> str:
    """Return the request's bearer token, or raise Unauthenticated."""
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    raise Unauthenticated("an 'Authorization: Bearer <token>' header is required")


async def refuse(send: Send, status: int, title: str, message: str) -> None:
    """Answer `status` with a problem body (and ``WWW-Authenticate: Bearer`` on a 401)."""
    body = json.dumps(
        {"title": title, "status": status, "detail": message}, separators=(",", ":")
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def http_app(runtime: Runtime, *, host: str) -> ASGIApp:
    """Return the guarded streamable HTTP app (DNS-rebinding protection on loopback)."""

    async def admit_locally(token: str, scope: Scope) -> None:
        async with runtime.session(read_only=True) as session:
            scope[IDENTITY_SCOPE] = await authenticate(session, token)

    server = build_server(LocalTools(runtime, RequestCaller()))
    return BearerGuard(
        server.streamable_http_app(streamable_http_path=PATH, host=host), admit_locally
    )


async def serve_http(runtime: Runtime, *, host: str, port: int) -> None:
    """Serve MCP over streamable HTTP on `host`:`port` until SIGINT/SIGTERM."""
    await _serve(http_app(runtime, host=host), host=host, port=port)


async def serve_remote_http(url: str, token: str, *, host: str, port: int) -> None:
    """Serve MCP over streamable HTTP, each request's token passed on to the server at `url`.

    `token` (``TRIAD_TOKEN`` or the stored login) only reads the server's procedures at
    start, to name the tools; every call goes out with its own request's token.
    """
    async with server_client() as http:
        server = Server(url, http)
        catalogue = await connect(server, token)

        async def admit_remotely(secret: str, scope: Scope) -> None:
            await admit(server, secret)
            scope[TOKEN_SCOPE] = secret

        mcp = build_server(RemoteTools(server, RequestToken(), catalogue))
        app = mcp.streamable_http_app(streamable_http_path=PATH, host=host)
        await _serve(BearerGuard(app, admit_remotely), host=host, port=port)


async def _serve(app: ASGIApp, *, host: str, port: int) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
    await uvicorn.Server(config).serve()
