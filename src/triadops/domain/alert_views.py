"""Alerts, silences and deliveries as people read them: the domain's read models.

The API and the CLI render these, never the stored rows: `ops.alerts.models` builds them
from rows in one place, the API's schemas extend them (keeping their names and JSON), and
the CLI reads them alike from the database and from the API's answers.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from triadops.domain.alerts import AlertState, Matcher, Severity
from triadops.domain.ledger import LedgerEntry


class Alert(BaseModel):
    """One alert as stored."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    id: int
    fingerprint: str
    alertname: str
    state: AlertState
    severity: Severity
    labels: dict[str, str]
    annotations: dict[str, str]
    source: str
    """Who raised it: ``health``, ``api`` (POST /alerts), ``alertmanager``…"""
    group_key: str
    count: int
    """How often it was raised while unresolved."""
    starts_at: datetime
    last_seen: datetime
    ends_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    silence_id: str | None
    """The silence muting it, while silenced."""
    escalation_level: int
    ack_deadline: datetime | None
    notified_at: datetime | None
    generator_url: str | None


class Notification(BaseModel):
    """One delivery about the alert's group to one channel."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    authority: str | None
    reason: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class Silence(BaseModel):
    """One silence as stored."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    matchers: list[Matcher]
    comment: str
    created_by: str
    created_at: datetime
    starts_at: datetime
    ends_at: datetime
    expired_at: datetime | None
    expired_by: str | None
    operation_id: str | None
    """The operation it covers, for a change-linked silence."""
    active: bool
    """In force when read: started, not ended, not expired."""

    @property
    def state(self) -> str:
        """``active``, ``expired`` (ended by hand) or ``ended``."""
        return "active" if self.active else ("expired" if self.expired_at else "ended")


class AlertHistory(BaseModel):
    """One alert with its group's deliveries and its ledger entries."""

    alert: Alert
    notifications: list[Notification]
    """Deliveries about its group since it started, newest first (at most 50)."""
    timeline: list[LedgerEntry]
    """Every ledger entry about this alert, oldest first."""
