"""Render the console's pages: Jinja2 with autoescape on, and what every page needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from triadops.domain.errors import Forbidden, InvalidRequest
from triadops.runtime import Runtime

NONCE_STATE = "csp_nonce"
"""Key of the request's state that holds this answer's script nonce."""
MAX_FORM_BYTES = 16_384
"""The largest form the console reads; its forms hold a few short fields."""

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def runtime_of(request: Request) -> Runtime:
    """Return the runtime the API's lifespan gave the console."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render `template` with `context`, the page's nonce and the console's root."""
    page = _env.get_template(template).render(
        nonce=getattr(request.state, NONCE_STATE, ""),
        root=request.scope.get("root_path", "") or "",
        **context,
    )
    return HTMLResponse(page, status_code=status_code)


async def read_form(request: Request) -> dict[str, str]:
    """Return a posted form's fields (the last of each name), refusing a cross-origin post.

    Called only after the session is known, so no anonymous caller makes the server read a
    body. A browser names the page a form came from in ``Origin``; another site's is refused.
    """
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        raise Forbidden(f"a form posted from another origin ({origin}) is refused")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form could not be read") from None
    return {name: values[-1] for name, values in fields.items()}
