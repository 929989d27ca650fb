"""The crown's ledger, read: verify it against the stored state and page through entries."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from triadops.api.deps import Crown, ReadSessionDep, RuntimeDep, Viewer
from triadops.api.schemas import PROBLEMS, LedgerPage, OperationIdQuery, SignedCheckpoint, problems
from triadops.constitution import lifecycle
from triadops.constitution.ledger import audit, checkpoints, to_entry
from triadops.constitution.ledger.publishing import publish_checkpoint
from triadops.domain.errors import Conflict, InvalidRequest
from triadops.domain.ledger import VerifyReport
from triadops.storage.ledger import select_entries

router = APIRouter(prefix="/audit", tags=["audit"], responses=PROBLEMS)


@router.get("/verify")
async def verify_chain(
    identity: Viewer, session: ReadSessionDep, runtime: RuntimeDep
) -> VerifyReport:
    """Replay the chain against the stored state; findings (ok=false) are not errors.

    Names the first entry that breaks the chain, and every operation, step, approval,
    token and crown switch whose stored state disagrees with the replay.
    """
    return await audit.verify(session, alerts=runtime.settings.alerts)


@router.get("/log")
async def log(
    identity: Viewer,
    session: ReadSessionDep,
    operation_id: OperationIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LedgerPage:
    """Return the newest entries (optionally of one operation), oldest first."""
    rows = await select_entries(session, operation_id=operation_id, limit=limit)
    return LedgerPage(items=[to_entry(r) for r in rows])


NO_SERVER_KEY = (
    "the server has no checkpoint key: set TRIAD_CHECKPOINT_KEY_FILE where the server runs "
    "(triad audit keygen writes one)"
)


@router.post("/checkpoint", operation_id="sign_checkpoint", responses=problems(403, 409))
async def sign_checkpoint(identity: Crown, runtime: RuntimeDep) -> SignedCheckpoint:
    """Sign the ledger's head with the server's key and append it to the server's log.

    The crown's: the key and the log live with the server, never with a client. The head is
    read and the line written outside any write transaction; the ledger records it after.
    """
    settings = runtime.settings
    try:
        key = await asyncio.to_thread(checkpoints.signing_key, settings)
    except InvalidRequest as exc:  # the server's key file, not the request, is at fault
        raise Conflict(f"the server's checkpoint key cannot be used: {exc.message}") from None
    if key is None:
        raise Conflict(NO_SERVER_KEY)
    log_path = settings.resolved_checkpoint_log
    async with runtime.session(read_only=True) as session:
        signed = await checkpoints.write_checkpoint(session, key=key, log_path=log_path)
    async with runtime.session() as session:
        checkpoints.record_checkpoint(session, signed)
        await lifecycle.commit(session)
    await publish_checkpoint(settings, signed)  # outside any transaction; never fatal
    return SignedCheckpoint(**signed.model_dump(), log=str(log_path))
