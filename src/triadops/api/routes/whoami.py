"""Who the request's token is: its principal and roles, as every gate sees them."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from triadops.api.deps import Viewer
from triadops.api.schemas import problems
from triadops.domain.enums import Role

router = APIRouter(tags=["identity"], responses=problems(401))


class Whoami(BaseModel):
    """The principal a token acts as, and the roles it holds now."""

    name: str
    roles: list[Role]


@router.get("/whoami", operation_id="whoami")
async def whoami(identity: Viewer) -> Whoami:
    """Show the token's principal and roles (a remote ``triad mcp`` picks an authority by them)."""
    return Whoami(name=identity.name, roles=sorted(identity.roles, key=lambda r: r.value))
