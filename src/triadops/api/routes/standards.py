"""Standard changes: read each plan's success record, and decide its standing.

Reading needs any token. Granting, declining and revoking need the legislative role, checked
by the standing's rules where the record is stored (``ops.standards.policy``): a 403 names
the missing role, a 409 the standing that forbids the move, a 404 an unknown plan.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from triadops.api.deps import ReadSessionDep, SessionDep, Viewer
from triadops.api.schemas import problems
from triadops.constitution import lifecycle
from triadops.domain.standards import Decision, StandardChange, Standing
from triadops.ops.standards import service
from triadops.ops.standards.policy import MAX_REASON

router = APIRouter(prefix="/standards", tags=["standards"], responses=problems(401))
PLAN = Annotated[
    str,
    Path(
        min_length=8,
        max_length=64,
        pattern=r"^[0-9a-f]+$",
        description="The plan's sha256, or its first 8 or more hex digits.",
    ),
]


class StandardList(BaseModel):
    """The records, most recently changed first."""

    items: list[StandardChange]


class Reasoned(BaseModel):
    """Why: required to decline or revoke (it goes in the ledger), optional to grant."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    reason: str | None = Field(default=None, max_length=MAX_REASON)


@router.get("", operation_id="list_standards", responses=problems(422))
async def list_(
    identity: Viewer,
    session: ReadSessionDep,
    standing: Standing | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> StandardList:
    """List the success records and standings, most recently changed first."""
    return StandardList(items=await service.listing(session, standing=standing, limit=limit))


@router.get("/{plan}", operation_id="read_standard", responses=problems(404, 422))
async def read(plan: PLAN, identity: Viewer, session: ReadSessionDep) -> StandardChange:
    """Read one plan's record."""
    return await service.find(session, plan)


async def _decide(
    session: SessionDep, plan: str, decision: Decision, identity: Viewer, body: Reasoned | None
) -> StandardChange:
    decided = await service.decide(
        session, plan=plan, decision=decision, by=identity, reason=(body or Reasoned()).reason
    )
    await lifecycle.commit(session)
    return decided


@router.post("/{plan}/grant", operation_id="grant_standard", responses=problems(403, 404, 409, 422))
async def grant(
    plan: PLAN, identity: Viewer, session: SessionDep, body: Reasoned | None = None
) -> StandardChange:
    """Pre-approve this exact plan: its runs, and those waiting now, need no other approval."""
    return await _decide(session, plan, Decision.GRANT, identity, body)


@router.post(
    "/{plan}/decline", operation_id="decline_standard", responses=problems(403, 404, 409, 422)
)
async def decline(
    plan: PLAN, identity: Viewer, session: SessionDep, body: Reasoned
) -> StandardChange:
    """Decline the proposal: the plan's runs keep needing a person's approval."""
    return await _decide(session, plan, Decision.DECLINE, identity, body)


@router.post(
    "/{plan}/revoke", operation_id="revoke_standard", responses=problems(403, 404, 409, 422)
)
async def revoke(
    plan: PLAN, identity: Viewer, session: SessionDep, body: Reasoned
) -> StandardChange:
    """Take a plan's standing away: its next runs wait for a person again."""
    return await _decide(session, plan, Decision.REVOKE, identity, body)
