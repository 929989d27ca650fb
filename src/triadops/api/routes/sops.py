"""Standard operating procedures: the templates in force, and the reviews each has due."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from triadops.api.deps import ReadSessionDep, RuntimeDep, Viewer
from triadops.api.schemas import problems
from triadops.constitution.crown.reviews import sop_detail
from triadops.domain.sops import SopDetail, SopEntry

router = APIRouter(prefix="/sops", tags=["sops"], responses=problems(401))


class SopList(BaseModel):
    """The SOPs in force, by id."""

    items: list[SopEntry]


@router.get("", operation_id="list_sops")
async def list_sops(identity: Viewer, runtime: RuntimeDep) -> SopList:
    """List the SOPs in force: the shipped templates and the server's own replacements."""
    return SopList(items=list(runtime.sops.entries))


@router.get("/{name}", operation_id="read_sop", responses=problems(404, 422))
async def read_sop(
    name: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    identity: Viewer,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many reviews due.")] = 50,
) -> SopDetail:
    """Read one SOP (by id, such as ``SOP-001``, or name) with the reviews it has due."""
    return await sop_detail(session, runtime.sops, name, limit=limit)
