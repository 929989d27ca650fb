"""Read what a response shows: operations with their timeline, crown state."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.api.schemas import CrownState, OperationView
from triadops.constitution.ledger import to_entry
from triadops.storage import ledger as ledger_store
from triadops.storage.records import load_operation
from triadops.storage.tables import CrownStateRow


async def operation_view(session: AsyncSession, operation_id: str) -> OperationView:
    """Read one operation in full, with its ledger entries; NotFound if unknown."""
    operation = await load_operation(session, operation_id)
    entries = await ledger_store.select_operation_entries(session, operation_id)
    return OperationView.build(operation, [to_entry(e) for e in entries])


def crown_state(row: CrownStateRow) -> CrownState:
    """Return the crown's switches as the API shows them."""
    return CrownState(
        frozen=bool(row.frozen),
        frozen_by=row.frozen_by,
        frozen_at=row.frozen_at,
        reason=row.freeze_reason,
    )
