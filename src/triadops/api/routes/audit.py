"""The crown's ledger, read: verify it against the stored state and page through entries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from triadops.api.deps import ReadSessionDep, RuntimeDep, Viewer
from triadops.api.schemas import PROBLEMS, LedgerPage, OperationIdQuery
from triadops.constitution.crown import audit
from triadops.constitution.ledger import to_entry
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
