"""What every request passes before the routes: an id, an access record, errors, a body guard.

Pure ASGI, so nothing here buffers a body or moves work to another task. The order, outermost
first: `RequestIds`, `AccessRecords`, `ServerErrors`, `BodyGuard`; `create_app` registers them.
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triadops.api import problems
from triadops.api.access import AccessLog
from triadops.api.deps import IDENTITY_STATE, identify
from triadops.domain.errors import Unauthenticated
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.storage.access import Access

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_WITH_BODY: frozenset[str] = frozenset()
"""Paths that take a body without a token. None today: every body waits for a valid token."""
SESSION_GUARDED = "/console/"
"""Where the web console answers: it checks its own session cookie (and CSRF token) before
it reads a form, and reads its one anonymous form (sign-in) under this guard's size cap."""


class RequestIds:
    """Give every request an id, in its state (logs, 500 bodies) and the response's header.

    A caller's own well-formed ``X-Request-ID`` (up to 64 of ``[A-Za-z0-9._-]``) is kept, so
    one id follows a call through proxies; anything else is replaced by a new uuid4.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (_REQUEST_ID_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = message.get("headers", [])
                kept = [h for h in raw if h[0].lower() != _REQUEST_ID_KEY]
                message = {**message, "headers": [*kept, header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


ACCESS_LOG_STATE = "access_log"
"""Key of the app's state under which the lifespan leaves its `AccessLog`."""


class AccessRecords:
    """Hand every request's access row to the app's `AccessLog`, after its answer is sent.

    The row names the principal the request proved (its identity in the request's state),
    the method, the path without its query string, the route, the status, the latency and
    the request id: never a header, a body or a query string, which may carry secrets. It is
    only buffered here; the log's own task writes it, so no request waits on the database.
    ``GET /health`` never gets here (`HealthShortcut` answers it outermost): probes poll it
    every second or so, and their rows would drown the record of who did what.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access_log: AccessLog | None = getattr(scope["app"].state, ACCESS_LOG_STATE, None)
        if access_log is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            state = scope.get("state", {})
            identity = state.get(IDENTITY_STATE)
            access_log.add(
                Access(
                    at=utcnow(),
                    principal=identity.name if isinstance(identity, Identity) else None,
                    method=scope["method"],
                    path=scope["path"],
                    route=getattr(scope.get("route"), "path", None),
                    status=status,
                    latency_s=time.perf_counter() - started,
                    request_id=state.get("request_id", ""),
                )
            )


def request_id_of(scope: Scope) -> str:
    """Return the caller's well-formed ``X-Request-ID``, else a new uuid4."""
    offered = Headers(scope=scope).get(REQUEST_ID_HEADER)
    well_formed = offered is not None and _WELL_FORMED_ID.fullmatch(offered)
    return offered if offered and well_formed else uuid.uuid4().hex


def request_id_header(scope: Scope) -> tuple[bytes, bytes]:
    """Return the raw ``X-Request-ID`` response header `RequestIds` would add."""
    return _REQUEST_ID_KEY, request_id_of(scope).encode("latin-1")


class ServerErrors:
    """Turn an error no handler took into one logged event and a 500 problem.

    Unlike Starlette's ServerErrorMiddleware it does not raise the error again once answered:
    the server would then log it a second time, with a traceback of its own.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            response = await problems.server_error(Request(scope), exc)
            # A response already under way cannot become a 500: the server closes it.
            if not started:
                await response(scope, receive, send)


class _BodyTooLarge(Exception):
    """Raised from `receive` once a streamed body passes the cap."""


class BodyGuard:
    """Check the token before a body is read, and read no more of it than the cap.

    A request that may carry a body (POST, PUT, PATCH, DELETE) needs a valid token before a
    byte of it is read, so an anonymous caller cannot make the server take in a large body;
    the identity found is left in the request's state for `deps.get_identity`. A path no
    route serves is routed first and answered 404 (or 405) by the app, token or not: the
    caller learns nothing more, and the body stays unread. Then a body
    declared larger than `max_body_bytes` is refused with 413 unread, and one of unknown
    length (chunked) is cut off with 413 as soon as it passes the cap.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (
            scope["method"] in BODY_METHODS
            and scope["path"] not in OPEN_WITH_BODY
            and not scope["path"].startswith(SESSION_GUARDED)
            and _routed(scope)
        ):
            runtime: Runtime = scope["app"].state.runtime
            try:
                identity = await identify(runtime, _bearer_token(scope))
            except Unauthenticated as exc:
                refusal = await problems.triad_error(Request(scope), exc)
                await refusal(scope, receive, send)
                return
            scope.setdefault("state", {})[IDENTITY_STATE] = identity
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large()(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            # No route reads the body of a GET or HEAD: nothing to count.
            await self.app(scope, receive, send)
            return
        await self._capped(scope, receive, send)

    async def _capped(self, scope: Scope, receive: Receive, send: Send) -> None:
        read = 0
        over = False
        started = False

        async def receive_capped() -> Message:
            nonlocal read, over
            if over:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_body_bytes:
                    over = True
                    raise _BodyTooLarge
            return message

        async def send_unless_over(message: Message) -> None:
            nonlocal started
            # Once the body is cut off, whatever the app answers (FastAPI turns a failed
            # read into 400) gives way to the 413 sent below.
            if over and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_capped, send_unless_over)
        except _BodyTooLarge:
            if started:
                raise
        if over and not started:
            await self._too_large()(scope, receive, send)

    def _too_large(self) -> Response:
        return problems.problem(
            413,
            title="Payload too large",
            detail=f"the request body is larger than {self.max_body_bytes} bytes",
            kind="payload-too-large",
        )


def _routed(scope: Scope) -> bool:
    """Return True when a route serves this path and method (so a token is asked for)."""
    routes = getattr(scope["app"], "routes", ())
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def _bearer_token(scope: Scope) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None
