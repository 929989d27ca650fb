"""What the ledger says each notification group and delivery is now: their folds.

Whoever can write the database could stop an emergency from paging without touching an
alert: push its group's next flush into the future (or null it, or delete the group),
delete the deliveries queued for it, or mark them sent. So every flush records one entry per
group (``alert_group_flushed``: its next flush and the deliveries it queued, id → channel),
escalation records the deliveries of each reminder, and each delivery's final outcome is an
entry (``notification_sent``, ``notification_failed``). These folds keep, for each group,
the latest next flush the ledger allows, and for each delivery its channel and outcome;
``alert_compare`` holds the stored groups and deliveries to them.

A group's next flush may never be later than the ledger allows: the next flush its last
flush recorded, or, for a group opened since (by an alert of it), that alert's time plus the
group wait (when the settings are given).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from triadops.constitution.ledger.folds import Entry
from triadops.domain.events import GroupFlushed, NotificationFailed, NotificationSent

if TYPE_CHECKING:
    from triadops.constitution.ledger.alert_audit import AlertingState


@dataclass(slots=True)
class GroupState:
    """What the ledger says one notification group is now."""

    next_flush_at: datetime | None = None
    """The next flush the ledger last recorded (None: not recorded since it opened)."""
    opened_at: datetime | None = None
    """When an alert (re)opened it after it ended, or before any flush recorded it."""
    ended: bool = False


@dataclass(slots=True)
class DeliveryState:
    """What the ledger says one delivery is now: its channel and final outcome."""

    channel: str
    status: str = "pending"
    stored: bool = False


@dataclass(slots=True)
class NotificationState:
    """Every group and delivery the ledger records, and the group wait to hold new groups to."""

    group_wait_s: float | None = None
    groups: dict[str, GroupState] = field(default_factory=dict)
    deliveries: dict[int, DeliveryState] = field(default_factory=dict)

    def alert_seen(self, group: str, at: datetime | None) -> None:
        """Note an alert entry of `group`: an ended (or unknown) group opens again with it."""
        known = self.groups.get(group)
        if known is None or known.ended:
            self.groups[group] = GroupState(opened_at=at)

    def group_moved(self, group: str, next_flush_at: datetime | None, *, ended: bool) -> None:
        """Apply a recorded next flush (a flush, or escalation making the group due)."""
        self.groups[group] = GroupState(next_flush_at=next_flush_at, ended=ended)

    def queued(self, deliveries: Any) -> None:
        """Apply the deliveries an entry records as queued (id → channel)."""
        if not isinstance(deliveries, dict):
            return
        for key, channel in deliveries.items():
            if (
                isinstance(key, str)
                and key.isascii()
                and key.isdigit()
                and isinstance(channel, str)
            ):
                self.deliveries[int(key)] = DeliveryState(channel=channel)

    def latest_flush(self, group: str) -> datetime | None:
        """Return the latest next flush the ledger allows `group`, or None when it says none."""
        said = self.groups.get(group)
        if said is None:
            return None
        if said.next_flush_at is not None:
            return said.next_flush_at
        if said.opened_at is not None and self.group_wait_s is not None:
            return said.opened_at + timedelta(seconds=self.group_wait_s)
        return None


def fold_group_flushed(state: AlertingState, event: GroupFlushed, e: Entry) -> None:
    """A flush moves its group's next flush, queues deliveries and sets its alerts' deadline."""
    said: dict[str, Any] = event.__dict__
    group = said.get("group")
    if not isinstance(group, str):
        return
    notifications = state.notifications
    moved = when(said.get("next_flush_at"))
    notifications.group_moved(group, moved, ended=moved is None)
    notifications.queued(said.get("deliveries"))
    deadline = when(said.get("ack_deadline"))
    for alert_id in said.get("deadlines") or []:
        alert = state.alerts.get(alert_id) if isinstance(alert_id, int) else None
        if alert is not None:
            alert.ack_deadline = deadline


def fold_sent(state: AlertingState, event: NotificationSent, e: Entry) -> None:
    """A delivery was sent."""
    _outcome(state, event, "sent")


def fold_failed(state: AlertingState, event: NotificationFailed, e: Entry) -> None:
    """A delivery failed for good."""
    _outcome(state, event, "failed")


def _outcome(state: AlertingState, event: NotificationSent | NotificationFailed, said: str) -> None:
    delivery_id = event.notification
    if isinstance(delivery_id, int):
        delivery = state.notifications.deliveries.get(delivery_id)
        if delivery is not None:
            delivery.status = said


def when(value: Any) -> datetime | None:
    """Return a recorded or stored time as aware UTC, or None when it is not one."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
