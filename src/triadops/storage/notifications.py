"""Alert groups' flush timing, escalation reads and notification deliveries: their SQL.

Every read a coordination cycle makes goes through an index, so its cost follows the alerts
that are active or due, never the history: groups by ``next_flush_at``, a group's alerts by
``(group_key, state)`` and ``(group_key, resolved_at)``, escalation by ``(state, severity)``,
deliveries by ``(status, priority, next_attempt_at)``, one priority at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import AlertGroupRow, AlertRow, NotificationRow

PENDING, SENT, FAILED = "pending", "sent", "failed"
FIRING, ACKNOWLEDGED, SILENCED, RESOLVED = "firing", "acknowledged", "silenced", "resolved"
EMERGENCY = "emergency"
UNRESOLVED = (FIRING, ACKNOWLEDGED, SILENCED)
CHUNK = 500
"""Keys per ``IN`` list: well under every driver's limit on bound parameters."""


def _chunks(keys: Sequence[str]) -> list[Sequence[str]]:
    return [keys[i : i + CHUNK] for i in range(0, len(keys), CHUNK)]


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _due_groups(now: datetime) -> Select[AlertGroupRow]:
    return select(AlertGroupRow).where(AlertGroupRow.next_flush_at <= now)


def _overdue_emergencies(now: datetime) -> Select[AlertRow]:
    return select(AlertRow).where(
        AlertRow.state == FIRING,
        AlertRow.severity == EMERGENCY,
        AlertRow.ack_deadline <= now,
    )


def _quiet_acknowledgements(before: datetime) -> Select[AlertRow]:
    return select(AlertRow).where(
        AlertRow.state == ACKNOWLEDGED, AlertRow.acknowledged_at <= before
    )


async def any_alert_work(session: AsyncSession, *, now: datetime, quiet_before: datetime) -> bool:
    """True when a group is due, an emergency is overdue or an acknowledgement went quiet.

    Three probes of one row each, so an idle cycle reads without taking the write lock.
    """
    for probe in (
        _due_groups(now).with_only_columns(AlertGroupRow.key),
        _overdue_emergencies(now).with_only_columns(AlertRow.id),
        _quiet_acknowledgements(quiet_before).with_only_columns(AlertRow.id),
    ):
        if (await session.execute(probe.limit(1))).first() is not None:
            return True
    return False


def _raised_by() -> ColumnElement[str]:
    return func.coalesce(AlertRow.raised_by, AlertRow.source)


async def due_groups(session: AsyncSession, *, now: datetime, limit: int) -> list[AlertGroupRow]:
    """Return (and lock, on PostgreSQL) up to `limit` groups whose flush time has come.

    Taken in turns by who raised their alerts: every principal's first due group, then
    every one's second, and so on, each turn oldest first; so one principal's thousands of
    due groups never hold another's back. Groups with only resolved news fill what is left.
    Rows another coordinator is flushing are skipped; once it commits their
    ``next_flush_at`` has moved on, so nobody flushes a group twice.
    """
    turn = func.row_number().over(
        partition_by=_raised_by(), order_by=(AlertGroupRow.next_flush_at, AlertRow.id)
    )
    ranked = (
        select(
            AlertRow.group_key.label("key"),
            AlertGroupRow.next_flush_at.label("due"),
            turn.label("turn"),
        )
        .join(AlertGroupRow, AlertGroupRow.key == AlertRow.group_key)
        .where(AlertGroupRow.next_flush_at <= now, AlertRow.state.in_(UNRESOLVED))
        .subquery()
    )
    fair = (
        select(ranked.c.key)
        .group_by(ranked.c.key)
        .order_by(func.min(ranked.c.turn), func.min(ranked.c.due), ranked.c.key)
        .limit(limit)
    )
    keys: list[str] = list((await session.execute(fair)).scalars())
    if len(keys) < limit:
        oldest = _due_groups(now).with_only_columns(AlertGroupRow.key)
        taken = set(keys)
        found = await session.execute(oldest.order_by(AlertGroupRow.next_flush_at).limit(limit))
        keys += [key for key in found.scalars() if key not in taken][: limit - len(keys)]
    groups: dict[str, AlertGroupRow] = {}
    for chunk in _chunks(keys):
        stmt = _due_groups(now).where(AlertGroupRow.key.in_(chunk))
        if _postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        groups.update((g.key, g) for g in (await session.execute(stmt)).scalars())
    return [groups[key] for key in keys if key in groups]


async def get_group(session: AsyncSession, key: str) -> AlertGroupRow | None:
    """Return the notification group with this key, if there is one."""
    return await session.get(AlertGroupRow, key)


async def end_group(session: AsyncSession, group: AlertGroupRow) -> None:
    """Drop a group that has nothing left to watch or tell; the caller commits.

    As Alertmanager drops an empty group: the next alert with its labels opens a new one
    (with a fresh group wait), and idle groups cost the flush nothing.
    """
    await session.delete(group)


async def groups_alerts(
    session: AsyncSession, groups: Sequence[AlertGroupRow]
) -> dict[str, list[AlertRow]]:
    """Return each group's unresolved alerts, and those resolved since it last notified.

    Only resolved alerts that were notified while firing are returned: a resolution is news
    only to someone who heard of the alert. A few statements for all the groups, by key.
    """
    found: dict[str, list[AlertRow]] = {g.key: [] for g in groups}
    for chunk in _chunks(list(found)):
        unresolved = select(AlertRow).where(
            AlertRow.group_key.in_(chunk), AlertRow.state.in_(UNRESOLVED)
        )
        for row in (await session.execute(unresolved.order_by(AlertRow.id))).scalars():
            found[row.group_key].append(row)
    since = {g.key: g.last_notified_at for g in groups if g.last_notified_at is not None}
    if since:
        earliest = min(since.values())
        for chunk in _chunks(list(since)):
            resolved = select(AlertRow).where(
                AlertRow.group_key.in_(chunk),
                AlertRow.resolved_at > earliest,
                AlertRow.state == RESOLVED,
                AlertRow.notified_at.is_not(None),
            )
            for row in (await session.execute(resolved.order_by(AlertRow.id))).scalars():
                if row.resolved_at is not None and row.resolved_at > since[row.group_key]:
                    found[row.group_key].append(row)
    return found


async def overdue_emergencies(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[AlertRow]:
    """Return (and lock) firing emergencies whose acknowledgement deadline has passed."""
    stmt = _overdue_emergencies(now).order_by(AlertRow.ack_deadline).limit(limit)
    if _postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars().all())


async def quiet_acknowledgements(
    session: AsyncSession, *, acknowledged_before: datetime, limit: int
) -> list[AlertRow]:
    """Return (and lock) acknowledged alerts acknowledged before `acknowledged_before`."""
    stmt = _quiet_acknowledgements(acknowledged_before).order_by(AlertRow.id).limit(limit)
    if _postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars().all())


async def queue_notification(
    session: AsyncSession,
    *,
    channel: str,
    authority: str | None,
    group_key: str | None,
    reason: str,
    payload: Mapping[str, Any],
    now: datetime,
    priority: int = 0,
) -> NotificationRow:
    """Add a pending delivery to one channel, due at once; the caller commits."""
    row = NotificationRow(
        channel=channel,
        priority=priority,
        authority=authority,
        group_key=group_key,
        reason=reason,
        payload=dict(payload),
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def _claimable(now: datetime) -> Select[int]:
    return select(NotificationRow.id).where(
        NotificationRow.status == PENDING,
        NotificationRow.next_attempt_at <= now,
        or_(NotificationRow.claimed_until.is_(None), NotificationRow.claimed_until < now),
    )


async def any_due_notifications(session: AsyncSession, *, now: datetime) -> bool:
    """True when at least one delivery could be claimed now."""
    return (await session.execute(_claimable(now).limit(1))).first() is not None


async def claim_notifications(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease_s: float,
    limit: int,
    priorities: Sequence[int] = (0,),
) -> list[NotificationRow]:
    """Lease up to `limit` due deliveries to `owner` and count the attempt; the caller commits.

    The lowest of `priorities` first, each oldest first: one index range per priority, so
    the claim's cost follows what it takes, not how long the queue is. Returned in the order
    to send them. A delivery whose lease ran out (its sender died before recording) is due
    again. On PostgreSQL the rows another sender is claiming are skipped (FOR UPDATE SKIP
    LOCKED), and once it commits their lease excludes them, so one delivery has one sender
    at a time; SQLite has one writer at a time anyway.
    """
    rows: list[NotificationRow] = []
    for priority in priorities:
        if len(rows) >= limit:
            break
        due = _claimable(now).where(NotificationRow.priority == priority)
        due = due.order_by(NotificationRow.next_attempt_at, NotificationRow.id)
        due = due.limit(limit - len(rows))
        if _postgres(session):
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(NotificationRow)
            .where(NotificationRow.id.in_(due.scalar_subquery()))
            .values(
                claimed_by=owner,
                claimed_until=now + timedelta(seconds=lease_s),
                attempts=NotificationRow.attempts + 1,
            )
            .returning(NotificationRow)
            .execution_options(synchronize_session=False)
        )
        taken = (await session.execute(stmt)).scalars().all()
        rows += sorted(taken, key=lambda r: (r.next_attempt_at, r.id))
    return rows


def _held(notification_id: int, owner: str) -> Any:
    return (
        NotificationRow.id == notification_id,
        NotificationRow.claimed_by == owner,
        NotificationRow.status == PENDING,
    )


async def record_sent(
    session: AsyncSession, *, notification_id: int, owner: str, now: datetime
) -> bool:
    """Mark a delivery sent, if `owner` still holds its claim; the caller commits."""
    stmt = (
        update(NotificationRow)
        .where(*_held(notification_id, owner))
        .values(status=SENT, sent_at=now, claimed_by=None, claimed_until=None)
        .returning(NotificationRow.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).first() is not None


async def record_failure(
    session: AsyncSession,
    *,
    notification_id: int,
    owner: str,
    error: str,
    retry_at: datetime | None,
) -> bool:
    """Record a failed try, if `owner` still holds the claim: due again at `retry_at`, or failed.

    ``retry_at=None`` means out of attempts: the delivery is ``failed`` for good.
    """
    values: dict[str, Any] = {"last_error": error, "claimed_by": None, "claimed_until": None}
    if retry_at is None:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = retry_at
    stmt = (
        update(NotificationRow)
        .where(*_held(notification_id, owner))
        .values(**values)
        .returning(NotificationRow.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).first() is not None
