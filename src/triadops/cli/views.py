"""What the CLI lists, one model each, read alike from the database's rows and the API's JSON.

Both modes build these, so ``--json`` and the tables print the same thing whether the CLI
reads the database or asks a server. Alerts and silences are the domain's read models
(`domain.alert_views`), built from rows by `ops.alerts.models` alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from triadops.domain.agents import AgentName
from triadops.domain.alert_views import Alert, AlertHistory, Silence
from triadops.domain.enums import OperationStatus, OperationType, Risk
from triadops.domain.ledger import LedgerEntry
from triadops.storage.tables import OperationRow


class OperationLine(BaseModel):
    """One operation of a listing (the API's ``OperationSummary``, plus its cursor)."""

    operation_id: str
    status: OperationStatus
    status_reason: str | None
    operation_type: OperationType
    description: str
    requested_by: str
    risk_level: Risk | None
    created_at: datetime
    updated_at: datetime
    cursor: str | None = None
    """Continues the listing after this operation (with the same filters)."""

    @classmethod
    def of(cls, row: OperationRow, cursor: str) -> OperationLine:
        """Return the listing line of a stored operation."""
        risk = (row.planning_result or {}).get("risk_level")
        return cls(
            operation_id=row.id,
            status=OperationStatus(row.status),
            status_reason=row.status_reason,
            operation_type=OperationType(row.operation_type),
            description=str(row.request.get("description", "")),
            requested_by=row.requested_by,
            risk_level=Risk(risk) if isinstance(risk, str) else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            cursor=cursor,
        )


AlertLine = Alert
"""One alert as stored (the API's ``AlertView``): the domain's read model."""

SilenceLine = Silence
"""One silence as stored, and whether it is in force (the API's ``SilenceView``)."""


def labels_text(labels: dict[str, str]) -> str:
    """Return an alert's labels on one line, its name left out (it has its own column)."""
    return ", ".join(f"{k}={v}" for k, v in labels.items() if k != "alertname")


class Delivery(BaseModel):
    """One notification about an alert's group to one channel."""

    model_config = ConfigDict(from_attributes=True)

    channel: str
    reason: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class AlertStory(Alert):
    """An alert with its group's deliveries and its ledger entries (the API's ``AlertDetail``)."""

    notifications: list[Delivery]
    timeline: list[LedgerEntry]

    @classmethod
    def told(cls, history: AlertHistory) -> AlertStory:
        """Combine an alert's read model with its deliveries and entries."""
        return cls.model_validate(
            {
                **history.alert.model_dump(),
                "notifications": [Delivery.model_validate(n) for n in history.notifications],
                "timeline": history.timeline,
            }
        )


class CrownSwitch(BaseModel):
    """The crown's freeze after it was moved, and by whom."""

    frozen: bool
    by: str
    reason: str | None = None

    @classmethod
    def of(cls, answer: dict[str, Any]) -> CrownSwitch:
        """Read the API's ``CrownChange`` answer."""
        return cls(frozen=answer["frozen"], by=answer["by"], reason=answer.get("reason"))


class AgentCheckLine(BaseModel):
    """How one agent's model held to its contract (``agents.check.AgentCheck``, as the API's)."""

    model_config = ConfigDict(from_attributes=True)

    agent: AgentName
    model: str
    ok: bool
    latency_s: float
    input_tokens: int
    output_tokens: int
    error: str | None
