"""The alerts feature's read models, built from the stored rows in this one place.

The models themselves are the domain's (`domain.alert_views`); the API's schemas and the
CLI's lines render them. The readers here take a read session and return domain objects,
so neither entry point touches a row; a service's answer (a row it changed in the caller's
transaction) is turned into its view with :func:`alert_of` or :func:`silence_of`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.alert_views import Alert, AlertHistory, Notification, Silence
from triadops.domain.alerts import AlertState, Severity
from triadops.storage import alerts as store
from triadops.storage.tables import AlertRow, NotificationRow, SilenceRow

__all__ = [
    "Alert",
    "AlertHistory",
    "Notification",
    "Silence",
    "alert_history",
    "alert_of",
    "list_alerts",
    "list_silences",
    "notification_of",
    "silence_of",
]


def alert_of(row: AlertRow) -> Alert:
    """Return the read model of a stored alert."""
    return Alert.model_validate(row)


def notification_of(row: NotificationRow) -> Notification:
    """Return the read model of a stored delivery."""
    return Notification.model_validate(row)


_SILENCE_FIELDS = tuple(name for name in Silence.model_fields if name != "active")


def silence_of(row: SilenceRow, *, now: datetime) -> Silence:
    """Return the read model of a stored silence as it stands at `now`."""
    active = row.expired_at is None and row.starts_at <= now < row.ends_at
    fields = {name: getattr(row, name) for name in _SILENCE_FIELDS}
    return Silence.model_validate({**fields, "active": active})


async def list_alerts(
    session: AsyncSession,
    *,
    states: Sequence[AlertState] = (),
    severities: Sequence[Severity] = (),
    before: int | None = None,
    limit: int = 50,
) -> list[Alert]:
    """Return alerts newest first, by state and severity, older than `before` if given."""
    rows = await store.list_alerts(
        session, states=states, severities=severities, before=before, limit=limit
    )
    return [alert_of(row) for row in rows]


async def alert_history(session: AsyncSession, alert_id: int) -> AlertHistory:
    """Return an alert with its group's deliveries and its ledger entries; NotFound if none."""
    row = await store.get_alert(session, alert_id)
    sent = await store.group_notifications(session, group_key=row.group_key, since=row.starts_at)
    entries = await store.alert_entries(session, alert_id)
    return AlertHistory(
        alert=alert_of(row),
        notifications=[notification_of(n) for n in sent],
        timeline=[ledger.to_entry(e) for e in entries if e.event.startswith("alert_")],
    )


async def list_silences(
    session: AsyncSession, *, now: datetime, active_only: bool, limit: int
) -> list[Silence]:
    """Return silences newest first: those in force at `now`, or all."""
    rows = await store.list_silences(session, now=now, active_only=active_only, limit=limit)
    return [silence_of(row, now=now) for row in rows]
