"""Sign in with a token, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from triadops.domain.errors import Unauthenticated
from triadops.web import sessions
from triadops.web.render import read_form, render, runtime_of

router = APIRouter()


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request) -> Response:
    """Ask for a token."""
    return render(request, "signin.html", signed=None, error=None)


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    """Exchange a token for a session cookie, then go to the overview.

    The one console form read without a session: it is small (capped), and a wrong token
    is answered like the API answers it, with nothing stored.
    """
    form = await read_form(request)
    try:
        _, secret = await sessions.sign_in(runtime_of(request), form.get("token", "").strip())
    except Unauthenticated as exc:
        return render(request, "signin.html", status_code=401, signed=None, error=exc.message)
    response = RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=303)
    sessions.set_cookie(request, response, secret)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session (its CSRF token is asked, so no other page can sign you out)."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    sessions.check_csrf(signed, (await read_form(request)).get("csrf"))
    await sessions.sign_out(runtime, request)
    response = RedirectResponse(f"{request.scope.get('root_path', '')}/signin", status_code=303)
    sessions.clear_cookie(request, response)
    return response
