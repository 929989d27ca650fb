"""The ledger events of notifications: a group's flushes and each delivery's outcome."""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from triadops.domain.events.base import LedgerEvent


class GroupFlushed(LedgerEvent):
    """A group's flush: its next flush, the deliveries it queued, the deadlines it set."""

    kind: Literal["alert_group_flushed"] = "alert_group_flushed"
    group: str
    next_flush_at: str | None
    """None: the group ended."""
    reason: str | None = None
    deliveries: dict[str, JsonValue] | None = None
    """Delivery id → channel; left out when it queued none."""
    deadlines: list[JsonValue] | None = None
    """The alerts given `ack_deadline`; both left out when none were."""
    ack_deadline: str | None = None


class NotificationSent(LedgerEvent):
    """A delivery was sent."""

    kind: Literal["notification_sent"] = "notification_sent"
    notification: int
    channel: str


class NotificationFailed(LedgerEvent):
    """A delivery failed for good (a try that will be retried is not one)."""

    kind: Literal["notification_failed"] = "notification_failed"
    notification: int
    channel: str
