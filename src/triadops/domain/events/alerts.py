"""The ledger events of alerts: each names the alert and its state after the change."""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from triadops.domain.events.base import LedgerEvent, Number


class AlertEvent(LedgerEvent):
    """What every alert entry carries (filed under the subject ``alert:<id>``)."""

    alert: int
    state: str


class AlertFired(AlertEvent):
    """A source raised a new alert."""

    kind: Literal["alert_fired"] = "alert_fired"
    fingerprint: str
    alertname: str
    severity: str
    source: str
    group: str
    silence: str | None
    annotations_sha256: str


class AlertAcknowledged(AlertEvent):
    """Someone acknowledged the alert (the entry's actor)."""

    kind: Literal["alert_acknowledged"] = "alert_acknowledged"


class AlertResolved(AlertEvent):
    """The alert was resolved: by its source, by hand, or as it ended."""

    kind: Literal["alert_resolved"] = "alert_resolved"
    silence: str | None = None
    """Set when its source resolved it: the silence muting it then."""
    reason: str


class AlertSilenced(AlertEvent):
    """A silence muted the alert (or it moved to another when its own ended)."""

    kind: Literal["alert_silenced"] = "alert_silenced"
    silence: str | None


class AlertUnsilenced(AlertEvent):
    """The alert sounds again."""

    kind: Literal["alert_unsilenced"] = "alert_unsilenced"
    silence: str | None
    ended: str | None = None
    """The silence whose end unmuted it, when that is why."""


class AlertAnnotated(AlertEvent):
    """Its source changed what the alert says."""

    kind: Literal["alert_annotated"] = "alert_annotated"
    annotations: dict[str, JsonValue]
    generator_url: str | None


class AlertEscalated(AlertEvent):
    """An unacknowledged alert went up a level: new channels and a new deadline."""

    kind: Literal["alert_escalated"] = "alert_escalated"
    fingerprint: str
    alertname: str
    level: int
    reason: str
    channels: list[JsonValue]
    ack_deadline: str | None
    deliveries: dict[str, JsonValue]
    """Delivery id → channel."""


class AlertReescalated(AlertEvent):
    """An acknowledged alert stayed quiet too long and fires again from level 0."""

    kind: Literal["alert_reescalated"] = "alert_reescalated"
    fingerprint: str
    alertname: str
    severity: str
    acknowledged_by: str | None
    acknowledged_at: str | None
    quiet_s: Number
    level: int
    ack_deadline: str | None
    group: str
    deliveries: dict[str, JsonValue]
    next_flush_at: str | None = None
    """Set when the group flushes again now rather than in its step."""
