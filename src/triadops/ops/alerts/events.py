"""The ledger events of alerts and silences, and the one way each is written.

An alert's entries are filed under its subject ``alert:<id>`` (the ledger's indexed
subject column), so an alert's history is read without walking the chain; a silence's
under the operation it is linked to, if any. Every alert entry names the alert and its
state after the change, so ``triad audit verify`` replays each alert's state from its last
entry (`constitution.ledger.alert_audit`). A change of state made elsewhere should go
through :func:`record_alert` too, so it is filed under the alert and replayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.alerts import AlertState
from triadops.domain.events import (
    AlertEvent,
    GroupFlushed,
    NotificationFailed,
    NotificationSent,
    SilenceCreated,
    SilenceExpired,
    parse_event,
)
from triadops.storage.alerts import alert_subject
from triadops.storage.tables import NotificationRow

ALERT_FIRED = "alert_fired"
ALERT_ACKNOWLEDGED = "alert_acknowledged"
ALERT_RESOLVED = "alert_resolved"
ALERT_SILENCED = "alert_silenced"
"""A silence mutes the alert (or it moves to another silence when its own ends)."""
ALERT_UNSILENCED = "alert_unsilenced"
ALERT_ANNOTATED = "alert_annotated"
"""Its source changed what it says (annotations, graph link); details hold the new ones."""
SILENCE_CREATED = "silence_created"
SILENCE_EXPIRED = "silence_expired"

MONITOR = "triad:monitor"
"""The actor of automatic changes (an ``ends_at`` passed, a source stopped raising an alert,
a silence ran out). ``triad`` is reserved, so no principal can take this name."""


def record_alert(
    session: AsyncSession,
    *,
    alert_id: int,
    event: str,
    actor: str,
    state: AlertState,
    at: datetime,
    details: dict[str, JsonValue] | None = None,
) -> None:
    """Queue an alert's ledger entry: its id and state after the change, and `details`.

    `event` and `details` are parsed into the kind's model (``domain.events.alerts``), so
    a key it does not declare is refused. Details the replay reads besides the state:
    ``silence`` (the silence muting it now, or null); ``alert_acknowledged`` and
    ``alert_resolved`` name their actor as the one who acknowledged or resolved.
    """
    said = parse_event(event, {"alert": alert_id, "state": state.value, **(details or {})})
    if not isinstance(said, AlertEvent):
        raise TypeError(f"{event} is not an alert's event")
    ledger.record(session, said, actor=actor, operation_id=alert_subject(alert_id), at=at)


def record_silence(
    session: AsyncSession,
    *,
    silence_id: str,
    event: str,
    actor: str,
    at: datetime,
    operation_id: str | None,
    details: dict[str, JsonValue] | None = None,
) -> None:
    """Queue a silence's ledger entry, filed under its operation when it is change-linked."""
    said = parse_event(event, {"silence": silence_id, **(details or {})})
    if not isinstance(said, SilenceCreated | SilenceExpired):
        raise TypeError(f"{event} is not a silence's event")
    ledger.record(session, said, actor=actor, operation_id=operation_id, at=at)


def delivery_ids(rows: Sequence[NotificationRow]) -> dict[str, JsonValue]:
    """Return queued deliveries as the ledger records them: id → channel (ids flushed)."""
    return {str(row.id): row.channel for row in rows}


async def record_group_flush(
    session: AsyncSession,
    *,
    group: str,
    next_flush_at: datetime | None,
    at: datetime,
    reason: str | None = None,
    deliveries: Sequence[NotificationRow] = (),
    deadlines: Sequence[int] = (),
    ack_deadline: datetime | None = None,
) -> None:
    """Queue a group's flush entry: one per group and flush, however many alerts it tells.

    `next_flush_at` None: the group ended. `deadlines` are the alerts given `ack_deadline`.
    """
    if deliveries:
        await session.flush()  # the deliveries' ids
    details: dict[str, JsonValue] = {
        "group": group,
        "next_flush_at": next_flush_at.isoformat() if next_flush_at else None,
    }
    if reason is not None:
        details["reason"] = reason
    if deliveries:
        details["deliveries"] = delivery_ids(deliveries)
    if deadlines and ack_deadline is not None:
        details["deadlines"] = list[JsonValue](deadlines)
        details["ack_deadline"] = ack_deadline.isoformat()
    ledger.record(session, GroupFlushed.model_validate(details), actor=MONITOR, at=at)


def record_delivery(
    session: AsyncSession, row: NotificationRow, *, outcome: str, at: datetime
) -> None:
    """Queue a delivery's final outcome: ``sent``, or ``failed`` once out of attempts."""
    kind = NotificationSent if outcome == "sent" else NotificationFailed
    ledger.record(session, kind(notification=row.id, channel=row.channel), actor=MONITOR, at=at)
