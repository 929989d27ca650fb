"""The notification groups' and deliveries' part of ``triad audit verify``.

Whoever can write the database could stop an emergency from paging without touching an
alert: push its group's next flush into the future (or null it, or delete the group),
delete the deliveries queued for it, or mark them sent. So every flush records one entry per
group (``alert_group_flushed``: its next flush and the deliveries it queued, id → channel),
escalation records the deliveries of each reminder, and each delivery's final outcome is an
entry (``notification_sent``, ``notification_failed``). The replay folds those and holds
each stored group and delivery to them.

A group's next flush may never be later than the ledger allows: the next flush its last
flush recorded, or, for a group opened since (by an alert of it), that alert's time plus the
group wait (when the settings are given). Deliveries older than the first one the ledger
records (queued by a release that did not record them) are not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from triadops.domain.ledger import Discrepancy, DiscrepancyKind
from triadops.storage import audit as store

GROUP_FLUSHED = "alert_group_flushed"
NOTIFICATION_SENT = "notification_sent"
NOTIFICATION_FAILED = "notification_failed"
OUTCOMES = {NOTIFICATION_SENT: "sent", NOTIFICATION_FAILED: "failed"}


@dataclass(slots=True)
class _Group:
    next_flush_at: datetime | None = None
    """The next flush the ledger last recorded (None: not recorded since it opened)."""
    opened_at: datetime | None = None
    """When an alert (re)opened it after it ended, or before any flush recorded it."""
    ended: bool = False


@dataclass(slots=True)
class _Delivery:
    channel: str
    status: str = "pending"
    stored: bool = False


class NotificationReplay:
    """Fold group flushes and delivery outcomes; compare stored groups and deliveries."""

    def __init__(self, group_wait_s: float | None) -> None:
        self.group_wait_s = group_wait_s
        self.groups: dict[str, _Group] = {}
        self.deliveries: dict[int, _Delivery] = {}
        self.found: list[Discrepancy] = []

    def alert_seen(self, group: str, at: datetime | None) -> None:
        """Note an alert entry of `group`: an ended (or unknown) group opens again with it."""
        known = self.groups.get(group)
        if known is None or known.ended:
            self.groups[group] = _Group(opened_at=at)

    def group_moved(self, group: str, next_flush_at: datetime | None, *, ended: bool) -> None:
        """Apply a recorded next flush (a flush, or escalation making the group due)."""
        self.groups[group] = _Group(next_flush_at=next_flush_at, ended=ended)

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
                self.deliveries[int(key)] = _Delivery(channel=channel)

    def outcome(self, event: str, details: dict[str, Any]) -> None:
        """Apply a delivery's recorded final outcome."""
        delivery_id = details.get("notification")
        delivery = self.deliveries.get(delivery_id) if isinstance(delivery_id, int) else None
        if delivery is not None:
            delivery.status = OUTCOMES[event]

    def _say(self, kind: DiscrepancyKind, subject: str, problem: str) -> None:
        self.found.append(Discrepancy(kind=kind, subject=subject, problem=problem))

    def compare_groups(self, rows: list[store.StoredGroup], live: dict[str, int]) -> None:
        """Compare stored groups; `live` maps groups to an unresolved alert each must notify."""
        for row in rows:
            subject = f"alert group {row.key}"
            if row.next_flush_at is None:
                self._say(
                    "alert_group", subject, "stored next_flush_at is empty: never flushed again"
                )
                continue
            bound = self._latest_flush(self.groups.get(row.key))
            if bound is not None and _utc(row.next_flush_at) > bound:
                self._say(
                    "alert_group",
                    subject,
                    f"stored next_flush_at {_utc(row.next_flush_at).isoformat()} is later "
                    f"than the ledger allows ({bound.isoformat()}): its alerts are held back",
                )
        stored = {row.key for row in rows}
        for key, alert_id in sorted(live.items()):
            if key not in stored:
                self._say(
                    "alert_group",
                    f"alert group {key}",
                    f"not stored, but alert {alert_id} of it is unresolved (deleted): "
                    "its alerts are never notified",
                )

    def _latest_flush(self, group: _Group | None) -> datetime | None:
        if group is None:
            return None
        if group.next_flush_at is not None:
            return group.next_flush_at
        if group.opened_at is not None and self.group_wait_s is not None:
            return group.opened_at + timedelta(seconds=self.group_wait_s)
        return None

    def compare_deliveries(self, rows: list[store.StoredDelivery]) -> None:
        """Compare a batch of stored deliveries with those the ledger recorded."""
        if not self.deliveries:
            return  # none recorded: queued before deliveries were recorded
        first = min(self.deliveries)
        for row in rows:
            if row.id < first:
                continue
            subject = f"notification {row.id}"
            said = self.deliveries.get(row.id)
            if said is None:
                self._say(
                    "notification", subject, "stored but never queued in the ledger (inserted)"
                )
                continue
            said.stored = True
            if row.channel != said.channel:
                self._say(
                    "notification",
                    subject,
                    f"stored channel {row.channel} but the ledger queued it for {said.channel}",
                )
            if row.status != said.status and not (row.status == "pending" == said.status):
                self._say(
                    "notification",
                    subject,
                    f"stored status {row.status} but the ledger records it {said.status}",
                )

    def compare_unstored(self) -> None:
        """Name every delivery the ledger queued that is not stored."""
        for delivery_id, said in sorted(self.deliveries.items()):
            if not said.stored:
                self._say(
                    "notification",
                    f"notification {delivery_id}",
                    f"queued for {said.channel} in the ledger but not stored (deleted)",
                )


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


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
