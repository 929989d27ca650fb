"""Group flushes: tell each due group's news to the channels its severity reaches.

Deciding what to tell is `escalation.decide_flush` (pure); here the due groups are read,
deliveries queued as pending rows, the told alerts stamped, and each flush recorded. Nothing
is sent here: `delivery` sends the queued rows outside any transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.ops.alerts import events, floods
from triadops.ops.alerts.escalation import (
    ESCALATION_PATH,
    Flush,
    authorities_for,
    build_payload,
    decide_flush,
    highest_severity,
    recipients,
)
from triadops.ops.alerts.payloads import AlertBrief, NotificationReason
from triadops.settings import AlertSettings
from triadops.storage import notifications as store
from triadops.storage.tables import AlertGroupRow, AlertRow, NotificationRow


def alert_brief(row: AlertRow) -> AlertBrief:
    """Return an alert row as notifications show it."""
    return AlertBrief(
        id=row.id,
        fingerprint=row.fingerprint,
        alertname=row.alertname,
        severity=Severity(row.severity),
        state=AlertState(row.state),
        labels={str(k): str(v) for k, v in row.labels.items()},
        annotations={str(k): str(v) for k, v in (row.annotations or {}).items()},
        starts_at=row.starts_at,
        count=row.count,
        resolved_at=row.resolved_at,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
    )


def raised_by(row: AlertRow) -> str:
    """Return the principal that raised an alert (its source, for rows from before that)."""
    return row.raised_by or row.source


async def queue_deliveries(
    session: AsyncSession,
    alerts: Sequence[AlertBrief],
    *,
    channels: Mapping[str, Sequence[Authority]],
    group_key: str,
    group_labels: Mapping[str, str],
    reason: NotificationReason,
    now: datetime,
    settings: AlertSettings,
    level: int = 0,
    flood: str | None = None,
    into: list[NotificationRow] | None = None,
) -> int:
    """Queue one delivery per channel; each payload names the authorities it speaks for.

    With `flood` (a principal), the alerts are that principal's flood: one payload says how
    many, and the deliveries queue behind every other of their severity. The rows queued
    are added to `into`, for the ledger entry that records them.
    """
    for channel, served in channels.items():
        authorities = served or ESCALATION_PATH
        if flood is None:
            payload = build_payload(
                alerts,
                group_key=group_key,
                group_labels=group_labels,
                reason=reason,
                authorities=authorities,
                now=now,
                level=level,
                settings=settings,
            )
        else:
            payload = floods.flood_payload(
                alerts,
                source=flood,
                reason=reason,
                authorities=authorities,
                now=now,
                settings=settings,
            )
        row = await store.queue_notification(
            session,
            channel=channel,
            authority=served[-1].value if served else None,
            group_key=payload.group_key,
            reason=reason.value,
            payload=payload.model_dump(mode="json"),
            now=now,
            priority=floods.priority(payload.severity, flood=flood is not None),
        )
        if into is not None:
            into.append(row)
    return len(channels)


async def flush_groups(
    session: AsyncSession, *, now: datetime, settings: AlertSettings, limit: int = 500
) -> int:
    """Notify the groups whose wait or interval is over; return the deliveries queued.

    Each due group's alerts are compared with what it last told; new or changed news is
    queued to every channel its highest severity reaches, an unchanged firing group
    repeats after the repeat interval, and the group's next look is scheduled. A notified
    emergency gets its acknowledgement deadline. A group with no unresolved alert and
    nothing left to tell is dropped. More than ``flood_threshold`` alerts of one principal
    in one flush are told as one notification per channel (`floods`), apart from any other
    principal's alerts of the same groups. Each group's flush is one ledger entry (its next
    flush, its deliveries, the deadlines it set), and so is each flood's notification.
    The caller commits.
    """
    groups = await store.due_groups(session, now=now, limit=limit)
    telling = await _decide(session, groups, now=now, settings=settings)
    queued, flooded = await _tell_groups(session, telling, now=now, settings=settings)
    return queued + await _tell_floods(session, flooded, now=now, settings=settings)


Telling = list[tuple[AlertGroupRow, list[AlertRow], Flush]]
Flooded = dict[tuple[str, NotificationReason], list[AlertBrief]]


async def _decide(
    session: AsyncSession, groups: list[AlertGroupRow], *, now: datetime, settings: AlertSettings
) -> Telling:
    """Decide each due group; record and drop those with nothing to tell. Return the rest."""
    found = await store.groups_alerts(session, groups)
    telling: Telling = []
    for group in groups:
        rows = found[group.key]
        decision = decide_flush(
            [alert_brief(r) for r in rows],
            last_digest=group.last_digest,
            last_notified_at=group.last_notified_at,
            now=now,
            settings=settings,
        )
        if decision.reason is None and decision.next_flush_at is None:
            await store.end_group(session, group)
            await events.record_group_flush(session, group=group.key, next_flush_at=None, at=now)
            continue
        group.next_flush_at = decision.next_flush_at
        if decision.reason is None:
            await events.record_group_flush(
                session, group=group.key, next_flush_at=group.next_flush_at, at=now
            )
            continue
        telling.append((group, rows, decision))
    return telling


async def _tell_groups(
    session: AsyncSession, telling: Telling, *, now: datetime, settings: AlertSettings
) -> tuple[int, Flooded]:
    """Queue each group's own news; return the deliveries queued and the floods set apart."""
    # One principal's many alerts in this flush are told once, apart from everyone else's.
    source_of = {row.id: raised_by(row) for _, rows, _ in telling for row in rows}
    loud = floods.flooding(
        (source_of[a.id] for _, _, d in telling for a in d.told),
        threshold=settings.flood_threshold,
    )
    queued = 0
    flooded: Flooded = {}
    deadline = now + timedelta(seconds=settings.ack_timeout_s)
    for group, rows, decision in telling:
        assert decision.reason is not None
        own, flood = floods.split(decision.told, source_of=source_of, loud=loud)
        deliveries: list[NotificationRow] = []
        if own:
            queued += await queue_deliveries(
                session,
                own,
                channels=recipients(authorities_for(highest_severity(own)), settings.routes),
                group_key=group.key,
                group_labels={str(k): str(v) for k, v in group.labels.items()},
                reason=decision.reason,
                now=now,
                settings=settings,
                into=deliveries,
            )
        for source, alerts in flood.items():
            flooded.setdefault((source, decision.reason), []).extend(alerts)
        group.last_digest, group.last_notified_at = decision.digest, now
        deadlines = _mark_told(rows, {a.id for a in decision.told}, now=now, deadline=deadline)
        await events.record_group_flush(
            session,
            group=group.key,
            next_flush_at=group.next_flush_at,
            at=now,
            reason=decision.reason.value,
            deliveries=deliveries,
            deadlines=deadlines,
            ack_deadline=deadline,
        )
    return queued, flooded


async def _tell_floods(
    session: AsyncSession, flooded: Flooded, *, now: datetime, settings: AlertSettings
) -> int:
    """Queue one notification per flooding principal and reason; return the deliveries."""
    queued = 0
    for (source, reason), alerts in flooded.items():
        deliveries: list[NotificationRow] = []
        queued += await queue_deliveries(
            session,
            alerts,
            channels=recipients(authorities_for(highest_severity(alerts)), settings.routes),
            group_key=floods.flood_key(source),
            group_labels={floods.FLOOD_LABEL: source},
            reason=reason,
            now=now,
            settings=settings,
            flood=source,
            into=deliveries,
        )
        # The flood's notification belongs to no stored group: recorded as one that ends.
        await events.record_group_flush(
            session,
            group=floods.flood_key(source),
            next_flush_at=None,
            at=now,
            reason=reason.value,
            deliveries=deliveries,
        )
    return queued


def _mark_told(
    rows: Sequence[AlertRow], told: set[int], *, now: datetime, deadline: datetime
) -> list[int]:
    """Stamp the alerts a notification told; a told firing emergency gets its ack deadline.

    Returns the ids given `deadline`, for the flush's ledger entry.
    """
    given = []
    for row in rows:
        if row.id not in told:
            continue
        row.notified_at = now
        if (
            row.severity == Severity.EMERGENCY.value
            and row.state == AlertState.FIRING.value
            and row.ack_deadline is None
        ):
            row.ack_deadline = deadline
            given.append(row.id)
    return given
