"""Escalation of what nobody answered: reminders, the fallback, and quiet acknowledgements.

A quiet acknowledgement fires again; an overdue emergency is reminded, then the fallback is
paged, then re-pages stop.

Each step is an alert's transition (`lifecycle.transition`), recorded with the deliveries
it queued and the deadline it set, in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import AlertState, Severity
from triadops.ops.alerts import events, floods, lifecycle
from triadops.ops.alerts.escalation import (
    TOLD_STATES,
    alerts_digest,
    authorities_for,
    escalation_step,
    last_level,
    recipients,
)
from triadops.ops.alerts.flushing import alert_brief, queue_deliveries, raised_by
from triadops.ops.alerts.payloads import NotificationReason
from triadops.ops.alerts.policy import Act
from triadops.settings import AlertSettings
from triadops.storage import notifications as store
from triadops.storage.tables import AlertGroupRow, AlertRow, NotificationRow

MONITOR = events.MONITOR
"""The actor of the ledger entries escalation writes."""


async def escalate(
    session: AsyncSession, *, now: datetime, settings: AlertSettings, limit: int = 500
) -> int:
    """Re-fire quiet acknowledgements and remind overdue emergencies; return how many alerts.

    An acknowledged alert left unresolved for ``ack_quiet_s`` fires again (its group is
    told at once, `_refire`) with an ``alert_reescalated`` ledger entry. A firing emergency
    past its acknowledgement deadline is reminded on its whole path, then after
    ``renotify_limit`` reminders sent to the fallback at each deadline, at most
    ``max_repages`` times again, then told once that re-pages stop; each step an
    ``alert_escalated`` entry naming its deliveries and the deadline it set. A flood's
    reminders are one notification per principal and level. The caller commits with
    ``lifecycle.commit``.
    """
    done = 0
    quiet_before = now - timedelta(seconds=settings.ack_quiet_s)
    for alert in await store.quiet_acknowledgements(
        session, acknowledged_before=quiet_before, limit=limit
    ):
        await _refire(session, alert, now=now, settings=settings)
        done += 1
    overdue = await store.overdue_emergencies(session, now=now, limit=limit)
    steps, reminders = await _remind(session, overdue, now=now, settings=settings)
    shared = await _remind_floods(session, reminders, now=now, settings=settings)
    await session.flush()  # the deliveries' ids, for the entries
    for alert, said, names, deliveries in steps:
        lifecycle.transition(
            session,
            alert,
            AlertState(alert.state),
            act=Act.ESCALATE,
            event="alert_escalated",
            by=MONITOR,
            details={
                "fingerprint": alert.fingerprint,
                "alertname": alert.alertname,
                "level": alert.escalation_level,
                "reason": said,
                "channels": list(names),
                "ack_deadline": alert.ack_deadline.isoformat() if alert.ack_deadline else None,
                "deliveries": events.delivery_ids(shared.get(alert.id, deliveries)),
            },
            at=now,
        )
        done += 1
    return done


Step = tuple[AlertRow, str, tuple[str, ...], list[NotificationRow]]
"""An escalation step: the alert, what its entry says, its channels, its own deliveries."""
Reminders = dict[tuple[str, int], list[AlertRow]]
"""A flooding principal's overdue alerts by level: reminded together."""


async def _remind(
    session: AsyncSession, overdue: list[AlertRow], *, now: datetime, settings: AlertSettings
) -> tuple[list[Step], Reminders]:
    """Take each overdue emergency one step up its path; set a flood's apart."""
    # A flood's reminders are told once per principal and level, behind everyone else's.
    loud = floods.flooding(map(raised_by, overdue), threshold=settings.flood_threshold)
    reminders: Reminders = {}
    steps: list[Step] = []
    for alert in overdue:
        level = alert.escalation_level + 1
        if level > last_level(settings) + 1:
            # Re-pages stopped already (a row from before the deadline was cleared).
            alert.ack_deadline = None
            steps.append((alert, REPAGES_STOPPED, (), []))
            continue
        reason, channels = escalation_step(level, settings)
        stopping = level > last_level(settings)
        deliveries: list[NotificationRow] = []
        if raised_by(alert) in loud:
            reminders.setdefault((raised_by(alert), level), []).append(alert)
        else:
            group = await store.get_group(session, alert.group_key)
            labels = group.labels if group is not None else {}
            await queue_deliveries(
                session,
                [alert_brief(alert)],
                channels=channels,
                group_key=alert.group_key,
                group_labels={str(k): str(v) for k, v in labels.items()},
                reason=reason,
                now=now,
                settings=settings,
                level=level,
                into=deliveries,
            )
        alert.escalation_level, alert.notified_at = level, now
        alert.ack_deadline = None if stopping else now + timedelta(seconds=settings.ack_timeout_s)
        said = REPAGES_STOPPED if stopping else reason.value
        steps.append((alert, said, tuple(channels), deliveries))
    return steps, reminders


async def _remind_floods(
    session: AsyncSession, reminders: Reminders, *, now: datetime, settings: AlertSettings
) -> dict[int, list[NotificationRow]]:
    """Queue one reminder per flooding principal and level; return each alert's deliveries."""
    shared: dict[int, list[NotificationRow]] = {}
    for (source, level), alerts in reminders.items():
        reason, channels = escalation_step(level, settings)
        deliveries: list[NotificationRow] = []  # shared by the flood's alerts
        await queue_deliveries(
            session,
            [alert_brief(a) for a in alerts],
            channels=channels,
            group_key=floods.flood_key(source),
            group_labels={floods.FLOOD_LABEL: source},
            reason=reason,
            now=now,
            settings=settings,
            level=level,
            flood=source,
            into=deliveries,
        )
        for alert in alerts:
            shared[alert.id] = deliveries
    return shared


REPAGES_STOPPED = "repages_stopped"
"""The reason of the last escalation entry: still unacknowledged, the fallback told that
re-pages stop. The alert stays open and visible; nothing more pages for it."""


async def _told_digest(session: AsyncSession, group: AlertGroupRow) -> str:
    """Return the digest a flush of `group` would compare with what it last told."""
    rows = (await store.groups_alerts(session, [group]))[group.key]
    return alerts_digest(b for b in map(alert_brief, rows) if b.state in TOLD_STATES)


async def _refire(
    session: AsyncSession, alert: AlertRow, *, now: datetime, settings: AlertSettings
) -> None:
    """Fire a quiet acknowledgement again, telling its path it was acknowledged, still firing.

    The notice goes out at once to the channels its severity reaches, saying who
    acknowledged it and how long ago (a flush would tell it as a new firing). When nothing
    else in its group changed since the group's last notification, the group's digest is
    brought up to date so no flush tells it again; otherwise the group is flushed now.
    The ``alert_reescalated`` entry records the level, deadline, deliveries and group move.
    """
    acknowledged = alert_brief(alert)
    acknowledged_by, acknowledged_at = alert.acknowledged_by, alert.acknowledged_at
    group = await store.get_group(session, alert.group_key)
    in_step = group is not None and await _told_digest(session, group) == group.last_digest
    labels = group.labels if group is not None else {}
    deliveries: list[NotificationRow] = []
    await queue_deliveries(
        session,
        [acknowledged.model_copy(update={"state": AlertState.FIRING})],
        channels=recipients(authorities_for(Severity(alert.severity)), settings.routes),
        group_key=alert.group_key,
        group_labels={str(k): str(v) for k, v in labels.items()},
        reason=NotificationReason.REPEAT,
        now=now,
        settings=settings,
        into=deliveries,
    )
    await session.flush()  # the deliveries' ids, for the entry
    alert.acknowledged_by = alert.acknowledged_at = None
    # A fresh round: its path hears of it now and an emergency gets a new deadline.
    alert.escalation_level, alert.notified_at = 0, now
    alert.ack_deadline = (
        now + timedelta(seconds=settings.ack_timeout_s)
        if alert.severity == Severity.EMERGENCY.value
        else None
    )
    details = _refire_details(
        alert, acknowledged_by, acknowledged_at, deliveries, quiet_s=settings.ack_quiet_s
    )
    if group is not None and not in_step:
        details["next_flush_at"] = now.isoformat()
    lifecycle.transition(
        session,
        alert,
        AlertState.FIRING,
        act=Act.REFIRE,
        event="alert_reescalated",
        by=MONITOR,
        at=now,
        details=details,
    )
    if group is not None:
        if in_step:
            group.last_digest = await _told_digest(session, group)
        else:
            group.next_flush_at = now


def _refire_details(
    alert: AlertRow,
    acknowledged_by: str | None,
    acknowledged_at: datetime | None,
    deliveries: list[NotificationRow],
    *,
    quiet_s: float,
) -> dict[str, JsonValue]:
    """Return the ``alert_reescalated`` entry's details (the replay reads each of them)."""
    return {
        "fingerprint": alert.fingerprint,
        "alertname": alert.alertname,
        "severity": alert.severity,
        "acknowledged_by": acknowledged_by,
        "acknowledged_at": acknowledged_at.isoformat() if acknowledged_at else None,
        "quiet_s": quiet_s,
        # The replay's: the level starts again, with this deadline and these deliveries.
        "level": 0,
        "ack_deadline": alert.ack_deadline.isoformat() if alert.ack_deadline else None,
        "group": alert.group_key,
        "deliveries": events.delivery_ids(deliveries),
    }
