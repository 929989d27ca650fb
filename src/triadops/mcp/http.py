"""The streamable HTTP transport: every request proves a token before any tool runs.

`BearerGuard` wraps the SDK's app. A request without ``Authorization: Bearer <token>``, or
with a token that is unknown or revoked, is answered 401 and never reaches the MCP layer;
the identity a token proved rides the request's scope to the tool (`calls.RequestCaller`).
Identity is per request, not per MCP session: a session id alone proves nothing.
"""

from __future__ import annotations

import json

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from triadops.constitution.crown.tokens import authenticate
from triadops.domain.errors import Unauthenticated
from triadops.mcp.calls import IDENTITY_SCOPE, RequestCaller
from triadops.mcp.server import build_server
from triadops.runtime import Runtime

PATH = "/mcp"
"""Where the MCP endpoint listens."""


class BearerGuard:
    """Refuse (401) every HTTP request without a valid bearer token; pass the rest on."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the token of an HTTP request; lifespan events pass untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            token = bearer(scope)
            async with self.runtime.session(read_only=True) as session:
                scope[IDENTITY_SCOPE] = await authenticate(session, token)
        except Unauthenticated as exc:
            await refuse(send, exc.message)
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


async def refuse(send: Send, message: str) -> None:
    """Answer 401 with a problem body and ``WWW-Authenticate: Bearer``."""
    body = json.dumps(
        {"title": "Unauthenticated", "status": 401, "detail": message}, separators=(",", ":")
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b"Bearer"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def http_app(runtime: Runtime, *, host: str) -> ASGIApp:
    """Return the guarded streamable HTTP app (DNS-rebinding protection on loopback)."""
    server = build_server(runtime, RequestCaller())
    return BearerGuard(server.streamable_http_app(streamable_http_path=PATH, host=host), runtime)


async def serve_http(runtime: Runtime, *, host: str, port: int) -> None:
    """Serve MCP over streamable HTTP on `host`:`port` until SIGINT/SIGTERM."""
    config = uvicorn.Config(
        http_app(runtime, host=host), host=host, port=port, log_config=None, lifespan="on"
    )
    await uvicorn.Server(config).serve()
