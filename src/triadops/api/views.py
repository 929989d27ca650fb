"""Read what a response shows: operations with their timeline, summaries, crown state."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.api.schemas import CrownState, OperationSummary, OperationView
from triadops.constitution.ledger import to_entry
from triadops.domain.enums import OperationStatus, OperationType, Risk
from triadops.storage import ledger as ledger_store
from triadops.storage.records import load_operation
from triadops.storage.tables import CrownStateRow, OperationRow


async def operation_view(session: AsyncSession, operation_id: str) -> OperationView:
    """Read one operation in full, with its ledger entries; NotFound if unknown."""
    operation = await load_operation(session, operation_id)
    entries = await ledger_store.select_operation_entries(session, operation_id)
    return OperationView.build(operation, [to_entry(e) for e in entries])


def operation_summary(row: OperationRow) -> OperationSummary:
    """Return the listing line of a stored operation."""
    risk = (row.planning_result or {}).get("risk_level")
    return OperationSummary(
        operation_id=row.id,
        status=OperationStatus(row.status),
        status_reason=row.status_reason,
        operation_type=OperationType(row.operation_type),
        description=str(row.request.get("description", "")),
        requested_by=row.requested_by,
        risk_level=Risk(risk) if isinstance(risk, str) else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def crown_state(row: CrownStateRow) -> CrownState:
    """Return the crown's switches as the API shows them."""
    return CrownState(
        frozen=bool(row.frozen),
        frozen_by=row.frozen_by,
        frozen_at=row.frozen_at,
        reason=row.freeze_reason,
    )
