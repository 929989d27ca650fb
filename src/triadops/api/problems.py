"""Turn errors into RFC 7807 problem bodies, so every 4xx and 5xx reads the same way."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import JsonValue
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from triadops.constitution import lifecycle
from triadops.constitution.crown.service import record_refusal
from triadops.domain.errors import Forbidden, RateLimited, TriadError, Unauthenticated
from triadops.domain.identity import Identity
from triadops.logconfig import format_traceback
from triadops.storage.engine import storage_full

MEDIA_TYPE = "application/problem+json"
log = structlog.stdlib.get_logger(__name__)


def problem(
    status: int,
    *,
    title: str,
    detail: str,
    kind: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: JsonValue,
) -> JSONResponse:
    """Return a problem response; `kind` names the problem type in kebab case."""
    body: dict[str, JsonValue] = {
        "type": f"urn:triadops:problem:{kind}",
        "title": title,
        "status": status,
        "detail": detail,
        "field": field,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


async def triad_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer a TriadError with its own status, title, message and field.

    A refused governance action (403 on a request that would change something) is put on
    the ledger's record first.
    """
    assert isinstance(exc, TriadError)
    if isinstance(exc, Forbidden) and request.method not in ("GET", "HEAD", "OPTIONS"):
        await _record_refusal(request, exc)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return problem(
        exc.status_code,
        title=exc.title,
        detail=exc.message,
        kind=_kebab(type(exc).__name__),
        field=exc.field,
        headers=headers,
    )


async def _record_refusal(request: Request, exc: Forbidden) -> None:
    identity = request.scope.get("state", {}).get("identity")
    if not isinstance(identity, Identity):
        return
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    operation_id = request.path_params.get("operation_id")
    try:
        async with request.app.state.runtime.session() as session:
            record_refusal(
                session,
                actor=identity.name,
                action=f"{request.method} {path}",
                reason=exc.message,
                operation_id=operation_id if isinstance(operation_id, str) else None,
            )
            await lifecycle.commit(session)
    except Exception as failure:  # the refusal stands even if its record cannot be written
        log.warning("refusal not recorded", error_type=type(failure).__name__)


def _where(loc: Sequence[Any]) -> str:
    """Render a location such as ``("body", "steps", 0, "action")`` as ``steps[0].action``."""
    text = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """Answer a body, query or path that does not parse with 422 and every field error."""
    assert isinstance(exc, RequestValidationError)
    errors: list[JsonValue] = [
        {"loc": [str(p) if not isinstance(p, int) else p for p in e["loc"]], "msg": e["msg"]}
        for e in exc.errors()
    ]
    first = exc.errors()[0] if exc.errors() else None
    field = _where(first["loc"]) if first else None
    detail = (
        "; ".join(f"{_where(e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        or "invalid request"
    )
    return problem(
        422,
        title="Invalid request",
        detail=detail,
        kind="invalid-request",
        field=field or None,
        errors=errors,
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer routing errors (unknown path, wrong method) as problems too.

    A body FastAPI could not even decode (not UTF-8, nested past the parser's depth) is
    input that does not parse, like any other body that is not JSON: 422, not its bare 400.
    """
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        reason = "not UTF-8" if isinstance(exc.__cause__, UnicodeDecodeError) else "not JSON"
        return problem(
            422,
            title="Invalid request",
            detail=f"body: {reason}",
            kind="invalid-request",
            field="body",
            errors=[{"loc": ["body"], "msg": reason}],
        )
    return problem(
        exc.status_code,
        title=str(exc.detail),
        detail=str(exc.detail),
        kind=f"http-{exc.status_code}",
        headers=dict(exc.headers) if exc.headers else None,
    )


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer a bug with a bare 500 naming the request id; the details go to the log.

    One event, with the traceback already formatted plain and bounded whatever logging is
    configured: never local variables (tokens, passwords), never slow enough to hold up the
    event loop.
    """
    request_id: str = getattr(request.state, "request_id", None) or uuid.uuid4().hex
    full = storage_full(request.app.state.runtime.engine) if isinstance(exc, DBAPIError) else None
    if full is not None:
        # Not a bug: the disk is full. Say so; /health reports it too.
        log.error("storage full", request_id=request_id, reason=full)
        return problem(
            503,
            title="Storage full",
            detail=f"the database cannot write: {full}",
            kind="storage-full",
            request_id=request_id,
            headers={"Retry-After": "60"},
        )
    route = request.scope.get("route")
    log.error(
        "unhandled error",
        request_id=request_id,
        method=request.method,
        path=getattr(route, "path", None) or request.url.path,
        error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        exception=format_traceback((type(exc), exc, exc.__traceback__)),
    )
    return problem(
        500,
        title="Internal error",
        detail="an unexpected error occurred",
        kind="internal",
        request_id=request_id,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(TriadError, triad_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
