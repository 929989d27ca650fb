"""The crown's ledger, read: verify the chain and page through entries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from triadops.api.deps import ReadSessionDep, Viewer
from triadops.api.schemas import PROBLEMS, LedgerPage
from triadops.constitution.crown.ledger import to_entry, verify
from triadops.domain.ledger import VerifyReport
from triadops.storage.ledger import select_entries

router = APIRouter(prefix="/audit", tags=["audit"], responses=PROBLEMS)


@router.get("/verify")
async def verify_chain(identity: Viewer, session: ReadSessionDep) -> VerifyReport:
    """Walk the hash chain; a broken chain is a finding (ok=false), not an error."""
    return await verify(session)


@router.get("/log")
async def log(
    identity: Viewer,
    session: ReadSessionDep,
    operation_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LedgerPage:
    """Return the newest entries (optionally of one operation), oldest first."""
    rows = await select_entries(session, operation_id=operation_id, limit=limit)
    return LedgerPage(items=[to_entry(r) for r in rows])
