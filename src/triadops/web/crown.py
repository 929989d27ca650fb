"""The crown's emergency brake from the overview: freeze and unfreeze all forward work.

The same services as ``POST /crown/freeze`` and ``/crown/unfreeze`` decide, in the
transaction that records the switch; the session's crown role is checked first, as the
API's dependency does.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict

from triadops.constitution import lifecycle
from triadops.constitution.crown.service import freeze, unfreeze
from triadops.domain.enums import Role
from triadops.domain.values import Reason
from triadops.web.decisions import posted
from triadops.web.render import runtime_of

router = APIRouter(prefix="/crown")


class FreezeForm(BaseModel):
    """Why all forward work is held (the API's rule: 1 to 2000 characters)."""

    model_config = ConfigDict(extra="ignore")

    reason: Reason


class NoFields(BaseModel):
    """A form of nothing but its CSRF token."""

    model_config = ConfigDict(extra="ignore")


def _overview(request: Request) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/", status_code=303)


@router.post("/freeze")
async def freeze_all(request: Request) -> Response:
    """Hold new and queued operations; running ones stop after their current step."""
    signed, form = await posted(request, FreezeForm, Role.CROWN)
    async with runtime_of(request).session() as session:
        await freeze(session, by=signed.identity, reason=form.reason)
        await lifecycle.commit(session)
    return _overview(request)


@router.post("/unfreeze")
async def unfreeze_all(request: Request) -> Response:
    """Lift the freeze."""
    signed, _ = await posted(request, NoFields, Role.CROWN)
    async with runtime_of(request).session() as session:
        await unfreeze(session, by=signed.identity)
        await lifecycle.commit(session)
    return _overview(request)
