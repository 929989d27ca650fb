"""What a notification says, and the one base every channel's sender implements.

Each sender takes the stored payload and either delivers it within its channel's timeout or
raises :class:`DeliveryFailed` with a message fit for a log line and ``last_error``: where it
went (host and port only; a Slack URL's path is its secret), what came back, never a
password, a signing secret or a traceback.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

import orjson
from pydantic import BaseModel

from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.domain.errors import TriadError

USER_AGENT = "triadops-notifier/1"
MAX_LISTED = 20
"""Alerts listed one by one in a chat message or an email; the rest are counted."""


class NotificationReason(StrEnum):
    """Why a notification was sent."""

    FIRING = "firing"
    RESOLVED = "resolved"
    REPEAT = "repeat"
    """Unchanged and still firing after the repeat interval."""
    REMINDER = "reminder"
    """An emergency not acknowledged by its deadline."""
    FALLBACK = "fallback"
    """An emergency still unacknowledged after every reminder: the fallback channels."""


class AlertBrief(BaseModel):
    """One alert as a notification shows it."""

    id: int
    fingerprint: str
    alertname: str
    severity: Severity
    state: AlertState
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    count: int
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    """When it was acknowledged; kept on a re-fire's notice ("acknowledged N min ago")."""


class NotificationPayload(BaseModel):
    """The JSON document every channel is sent (a webhook gets it whole). No secrets."""

    id: str
    """The delivery's key, the same on every retry: a receiver drops what it has seen.

    It is part of the signed body; ``X-Triad-Delivery`` repeats it for logs, unsigned."""
    version: Literal[1] = 1
    group_key: str
    group_labels: dict[str, str]
    status: Literal["firing", "resolved"]
    reason: NotificationReason
    authorities: list[Authority]
    """The authorities this delivery speaks for (its channel serves each of them)."""
    severity: Severity
    """The highest severity among the alerts."""
    summary: str
    """One line for a human: status, count, alert names, severity, reason."""
    alerts: list[AlertBrief]
    created_at: datetime


class DeliveryFailed(TriadError):
    """A channel did not take a notification; `transient` failures are worth retrying soon."""

    status_code = 502
    title = "Notification not delivered"

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def payload_body(payload: NotificationPayload) -> bytes:
    """Return the payload as the bytes a webhook sends (and signs)."""
    return orjson.dumps(payload.model_dump(mode="json"))


class Notifier(ABC):
    """Delivers a notification to one channel, within the channel's timeout."""

    kind: ClassVar[str]

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    @abstractmethod
    def timeout_s(self) -> float:
        """The longest one delivery may take."""

    @abstractmethod
    async def send(self, payload: NotificationPayload) -> None:
        """Deliver `payload`, or raise DeliveryFailed saying why."""
