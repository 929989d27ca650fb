"""What the CLI lists, one model each, read alike from the database's rows and the API's JSON.

Both modes build these, so ``--json`` and the tables print the same thing whether the CLI
reads the database or asks a server. Operations' lines, alerts and silences are the domain's
read models (`domain.operation_views`, `domain.alert_views`), built from rows by
`storage.records` and `ops.alerts.models` alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from triadops.domain.agents import AgentName
from triadops.domain.alert_views import Alert, AlertHistory, Silence
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operation_views import OperationSummary
from triadops.storage.listing import ListingFilters, listing_cursor


class OperationLine(OperationSummary):
    """One operation of a listing: the domain's read model, plus where the listing continues."""

    cursor: str | None = None
    """Continues the listing after this operation (with the same filters)."""

    @classmethod
    def listed(cls, summary: OperationSummary, filters: ListingFilters) -> OperationLine:
        """Return a listing's line for `summary`, its cursor made for these filters."""
        position = (summary.created_at, summary.operation_id)
        return cls(**dict(summary), cursor=listing_cursor(position, **filters))


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
