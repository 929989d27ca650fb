"""Build the console: a FastAPI app mounted by the API under ``/console``.

Every answer carries a strict, nonce-based Content-Security-Policy (no inline or eval
script, styles and images only from the console itself) and is rendered by Jinja2 with
autoescape on, so a value a user wrote (a description, a reason) shows as text.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from triadops.domain.errors import TriadError, Unauthenticated
from triadops.web import (
    alert_actions,
    crown,
    decisions,
    logs,
    maintenance,
    pages,
    records,
    signin,
    troubleshooting,
)
from triadops.web.render import NONCE_STATE, render

STATIC = Path(__file__).parent / "static"
PREFIX = "/console"


def csp(nonce: str) -> str:
    """Return the console's Content-Security-Policy for one answer."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeaders(BaseHTTPMiddleware):
    """Give each answer its nonce and the headers that keep the page to itself."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        nonce = secrets.token_urlsafe(16)
        setattr(request.state, NONCE_STATE, nonce)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = csp(nonce)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def create_console() -> FastAPI:
    """Return the console app; the API's lifespan sets its ``state.runtime``."""
    console = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    console.add_middleware(SecurityHeaders)
    console.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (
        signin,
        pages,
        decisions,
        crown,
        records,
        alert_actions,
        maintenance,
        troubleshooting,
        logs,
    ):
        console.include_router(module.router)
    console.add_exception_handler(TriadError, _refused)
    return console


async def _refused(request: Request, exc: Exception) -> Response:
    """Answer a refusal as a page: sign-in for a missing session, else the reason."""
    assert isinstance(exc, TriadError)
    if isinstance(exc, Unauthenticated) and request.method == "GET":
        return RedirectResponse(f"{PREFIX}/signin", status_code=303)
    return render(
        request,
        "refused.html",
        status_code=exc.status_code,
        code=exc.status_code,
        message=exc.message,
        signed=None,
    )
