"""The crown's emergency brake: freeze and unfreeze all forward work."""

from __future__ import annotations

from fastapi import APIRouter

from triadops.api.deps import Crown, ReadSessionDep, SessionDep, Viewer
from triadops.api.schemas import CrownChange, CrownState, FreezeBody, problems
from triadops.api.views import crown_state
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import freeze, unfreeze
from triadops.storage.operations import crown_state as stored_crown_state

router = APIRouter(prefix="/crown", tags=["crown"], responses=problems(401))


@router.get("", operation_id="read_crown")
async def read(identity: Viewer, session: ReadSessionDep) -> CrownState:
    """Show whether the crown holds all forward work."""
    return crown_state(await stored_crown_state(session))


@router.post("/freeze", operation_id="freeze", responses=problems(403, 409, 413, 422))
async def freeze_all(body: FreezeBody, identity: Crown, session: SessionDep) -> CrownChange:
    """Hold new and queued operations; running ones stop after their current step."""
    state = await freeze(session, by=identity, reason=body.reason)
    await lifecycle.commit(session)
    return CrownChange(**crown_state(state).model_dump(), by=identity.name)


@router.post("/unfreeze", operation_id="unfreeze", responses=problems(403, 409, 413))
async def unfreeze_all(identity: Crown, session: SessionDep) -> CrownChange:
    """Lift the freeze."""
    state = await unfreeze(session, by=identity)
    await lifecycle.commit(session)
    return CrownChange(**crown_state(state).model_dump(), by=identity.name)
