"""Operations as people list them: the domain's read model of a listing's line.

The API and the CLI render this, never the stored row: `storage.records.operation_summary`
builds it from the row in one place, the API answers it as is (``OperationPage.items``),
and the CLI reads it alike from the database and from the API's answer.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from triadops.domain.enums import OperationStatus, OperationType, Risk


class OperationSummary(BaseModel):
    """One line of a listing."""

    operation_id: str
    status: OperationStatus
    status_reason: str | None
    operation_type: OperationType
    description: str
    requested_by: str
    risk_level: Risk | None
    created_at: datetime
    updated_at: datetime
