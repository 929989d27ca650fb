"""Alerts and their notification groups: the SQL behind ingest, gates and reads.

Every read walks an index, so its cost follows the active alerts, never the history: the
unresolved alert of a fingerprint by the partial unique index, alerts by state through
``(state, severity, id)``. Writes only flush; the caller owns the transaction. Silences are
in `storage.silences`, re-exported here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import case, func, select, text, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import AlertState, Severity
from triadops.domain.errors import NotFound
from triadops.storage.silences import SILENCE_LOCK as SILENCE_LOCK
from triadops.storage.silences import StoredSilence as StoredSilence
from triadops.storage.silences import active_silences as active_silences
from triadops.storage.silences import add_silence_row as add_silence_row
from triadops.storage.silences import ended_silence_ids as ended_silence_ids
from triadops.storage.silences import ended_silences as ended_silences
from triadops.storage.silences import get_silence as get_silence
from triadops.storage.silences import iterate_stored_silences as iterate_stored_silences
from triadops.storage.silences import list_silences as list_silences
from triadops.storage.silences import lock_silences as lock_silences
from triadops.storage.silences import share_silences as share_silences
from triadops.storage.silences import silences_in_force as silences_in_force
from triadops.storage.tables import AlertGroupRow, AlertRow, LedgerRow, NotificationRow, SilenceRow

ACTIVE = tuple(sorted(s.value for s in AlertState if s is not AlertState.RESOLVED))
RESOLVED = AlertState.RESOLVED.value
_EMERGENCY = Severity.EMERGENCY.value
_UNRESOLVED = "state != 'resolved'"
"""The partial unique index's predicate, as text: SQLite uses a partial index only for a
query whose WHERE states its predicate literally, never through a bound parameter."""


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def alert_subject(alert_id: int) -> str:
    """Return what the ledger files an alert's entries under (its indexed subject column)."""
    return f"alert:{alert_id}"


@asynccontextmanager
async def reading_beside(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Yield a read-only session on `session`'s database (SQLite: no write lock taken)."""
    async with AsyncSession(session.bind, expire_on_commit=False) as reader:
        # storage.engine.READ_ONLY: a deferred BEGIN on SQLite.
        await reader.connection(execution_options={"triad_read_only": True})
        yield reader


async def active_severities(
    session: AsyncSession, fingerprints: Collection[str]
) -> list[tuple[str, dict[str, str], str]]:
    """Return (fingerprint, labels, severity) of the unresolved alerts with these fingerprints."""
    found: list[tuple[str, dict[str, str], str]] = []
    ordered = sorted(set(fingerprints))
    for start in range(0, len(ordered), 500):
        stmt = select(AlertRow.fingerprint, AlertRow.labels, AlertRow.severity).where(
            AlertRow.fingerprint.in_(ordered[start : start + 500]), text(_UNRESOLVED)
        )
        found += [(r[0], r[1], r[2]) for r in (await session.execute(stmt)).all()]
    return found


async def lock_alerts(session: AsyncSession, ids: Collection[int]) -> list[AlertRow]:
    """Return (and lock, on PostgreSQL) the alerts with these ids, in id order."""
    found: list[AlertRow] = []
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), 500):
        stmt = select(AlertRow).where(AlertRow.id.in_(ordered[start : start + 500]))
        stmt = stmt.order_by(AlertRow.id)
        if _postgres(session):
            stmt = stmt.with_for_update()
        found += list((await session.execute(stmt)).scalars().all())
    return found


class ActiveAlert(NamedTuple):
    """What ingest needs of an unresolved alert to deduplicate and silence it."""

    id: int
    fingerprint: str
    labels: dict[str, str]
    severity: str
    group_key: str
    state: str
    starts_at: datetime
    last_seen: datetime
    times: int
    """The row's ``count``: how often the alert was raised."""
    silence_id: str | None
    acknowledged_by: str | None
    annotations: dict[str, str]
    ends_at: datetime | None
    generator_url: str | None
    raised_by: str | None


_ACTIVE_COLUMNS = tuple(
    getattr(AlertRow, "count" if name == "times" else name) for name in ActiveAlert._fields
)


async def lock_active_alerts(
    session: AsyncSession, fingerprints: Sequence[str]
) -> list[ActiveAlert]:
    """Return (and lock, on PostgreSQL) the unresolved alerts with these fingerprints.

    Locked in fingerprint order, as ingest inserts, so two ingests never wait on each other
    in a circle.
    """
    found: list[ActiveAlert] = []
    ordered = sorted(set(fingerprints))
    for start in range(0, len(ordered), 500):
        stmt = (
            select(*_ACTIVE_COLUMNS)
            .where(AlertRow.fingerprint.in_(ordered[start : start + 500]), text(_UNRESOLVED))
            .order_by(AlertRow.fingerprint)
        )
        if _postgres(session):
            stmt = stmt.with_for_update()
        found += [ActiveAlert._make(row) for row in (await session.execute(stmt)).all()]
    return found


class Upserted(NamedTuple):
    """An inserted alert, or the unresolved one of its fingerprint that took its repeats."""

    id: int
    fingerprint: str
    state: str
    times: int
    """Its ``count`` after the statement: above the inserted row's, it was a repeat."""


async def upsert_alerts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[Upserted]:
    """Insert alerts, or add to the unresolved alert of the same fingerprint already stored.

    Adding raises its count and takes the newer last_seen, annotations and ends_at.
    Another replica may have inserted that alert after this one looked: the partial unique
    index refuses a second unresolved row, and ``ON CONFLICT`` turns the insert into a
    repeat. A returned count above the row's own tells the caller which way it went.
    """
    if not rows:
        return []
    dialect_insert = pg_insert if _postgres(session) else sqlite_insert
    # One statement without values, executed with the rows: compiled once and cached, sent
    # as batched multi-row INSERTs (SQLAlchemy's insertmanyvalues), returned in row order.
    insert = dialect_insert(AlertRow)
    new = insert.excluded
    stmt = insert.on_conflict_do_update(
        index_elements=[AlertRow.fingerprint],
        index_where=text(_UNRESOLVED),
        set_={
            "count": AlertRow.count + new["count"],
            "last_seen": case(
                (new["last_seen"] > AlertRow.last_seen, new["last_seen"]),
                else_=AlertRow.last_seen,
            ),
            "annotations": new["annotations"],
            "ends_at": new["ends_at"],
            "generator_url": func.coalesce(new["generator_url"], AlertRow.generator_url),
        },
    ).returning(
        AlertRow.id,
        AlertRow.fingerprint,
        AlertRow.state,
        AlertRow.count,
        sort_by_parameter_order=True,
    )
    result = await session.execute(stmt, list(rows))
    return [Upserted._make(row) for row in result.all()]


async def update_alerts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Update alerts by id, each row naming its id and the same columns (one executemany)."""
    if rows:
        await session.execute(update(AlertRow), list(rows))


async def ensure_groups(
    session: AsyncSession,
    groups: Mapping[str, Mapping[str, str]],
    *,
    now: datetime,
    first_flush_at: datetime,
) -> None:
    """Create the notification groups that do not exist yet; keep existing ones' timing.

    A new group is first looked at after the group wait; the dispatcher moves it on.
    """
    if not groups:
        return
    dialect_insert = pg_insert if _postgres(session) else sqlite_insert
    values = [
        {
            "key": key,
            "labels": dict(groups[key]),
            "created_at": now,
            "next_flush_at": first_flush_at,
        }
        for key in sorted(groups)
    ]
    insert = dialect_insert(AlertGroupRow)
    # DO UPDATE, not DO NOTHING: the update locks an existing group until this commits, so
    # a flush that would drop it as empty skips it (it locks groups SKIP LOCKED) or, having
    # dropped it first, makes this insert a new one. Its timing is kept as it was.
    stmt = insert.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "next_flush_at": func.coalesce(
                AlertGroupRow.next_flush_at, insert.excluded.next_flush_at
            )
        },
    )
    await session.execute(stmt, values)


async def get_alert(session: AsyncSession, alert_id: int, *, for_update: bool = False) -> AlertRow:
    """Return the alert, locked on PostgreSQL when `for_update`; NotFound when there is none."""
    stmt = select(AlertRow).where(AlertRow.id == alert_id)
    if for_update and _postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no alert {alert_id}", field="alert_id")
    return row


async def unresolved_alerts(
    session: AsyncSession,
    *,
    states: Sequence[str] = ACTIVE,
    source: str | None = None,
    silence_id: str | None = None,
    ended_by: datetime | None = None,
    for_update: bool = False,
) -> list[AlertRow]:
    """Return (and lock, on PostgreSQL) unresolved alerts in `states`, narrowed further.

    `source`: raised by it; `silence_id`: muted by it; `ended_by`: their ``ends_at`` passed,
    emergencies left out (only the crown ends one). The walk is over the states' index, so
    it costs what is active, not what is history.
    """
    stmt = select(AlertRow).where(AlertRow.state.in_(states))
    if source is not None:
        stmt = stmt.where(AlertRow.source == source)
    if silence_id is not None:
        stmt = stmt.where(AlertRow.silence_id == silence_id)
    if ended_by is not None:
        stmt = stmt.where(AlertRow.ends_at <= ended_by, AlertRow.severity != _EMERGENCY)
    stmt = stmt.order_by(AlertRow.id)
    if for_update and _postgres(session):
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).scalars().all())


async def housekeeping_due(session: AsyncSession, *, now: datetime) -> bool:
    """True when an unresolved alert's ``ends_at`` or an unexpired silence's end has passed.

    Two probes of one row each, so an idle pass reads without taking the write lock.
    """
    ended = select(AlertRow.id).where(
        AlertRow.state.in_(ACTIVE), AlertRow.ends_at <= now, AlertRow.severity != _EMERGENCY
    )
    if (await session.execute(ended.limit(1))).first() is not None:
        return True
    over = select(SilenceRow.id).where(SilenceRow.expired_at.is_(None), SilenceRow.ends_at <= now)
    return (await session.execute(over.limit(1))).first() is not None


async def list_alerts(
    session: AsyncSession,
    *,
    states: Sequence[AlertState] = (),
    severities: Sequence[Severity] = (),
    before: int | None = None,
    limit: int = 50,
) -> list[AlertRow]:
    """Return alerts newest first (by id), filtered, starting below id `before`.

    Unfiltered, the walk is the primary key's. Filtered, each (state, severity) pair is a
    walk of ``(state, severity, id)`` and the walks' newest rows are merged, so no listing
    sorts a history.
    """
    below = [] if before is None else [AlertRow.id < before]
    if not states and not severities:
        stmt = select(AlertRow).where(*below).order_by(AlertRow.id.desc()).limit(limit)
        return list((await session.execute(stmt)).scalars().all())
    pairs = [
        (state.value, severity.value)
        for state in dict.fromkeys(states or AlertState)
        for severity in dict.fromkeys(severities or Severity)
    ]
    ids = union_all(
        *(
            select(AlertRow.id)
            .where(AlertRow.state == state, AlertRow.severity == severity, *below)
            .order_by(AlertRow.id.desc())
            .limit(limit)
            .subquery()
            .select()
            for state, severity in pairs
        )
    ).subquery()
    page = select(ids.c.id).order_by(ids.c.id.desc()).limit(limit)
    chosen = [row.id for row in (await session.execute(page)).all()]
    if not chosen:
        return []
    rows = await session.execute(select(AlertRow).where(AlertRow.id.in_(chosen)))
    return sorted(rows.scalars(), key=lambda row: -row.id)


async def alert_entries(session: AsyncSession, alert_id: int) -> list[LedgerRow]:
    """Return the ledger entries filed under the alert, oldest first."""
    stmt = select(LedgerRow).where(LedgerRow.operation_id == alert_subject(alert_id))
    return list((await session.execute(stmt.order_by(LedgerRow.seq))).scalars().all())


async def group_notifications(
    session: AsyncSession, *, group_key: str, since: datetime, limit: int = 50
) -> list[NotificationRow]:
    """Return the newest deliveries about the alert's group made since it started."""
    stmt = (
        select(NotificationRow)
        .where(NotificationRow.group_key == group_key, NotificationRow.created_at >= since)
        .order_by(NotificationRow.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


class StoredAlert(NamedTuple):
    """The columns of an alert that the ledger vouches for."""

    id: int
    fingerprint: str
    labels: Any
    state: str
    severity: str
    acknowledged_by: str | None
    resolved_by: str | None
    silence_id: str | None
    raised_by: str | None
    group_key: str
    escalation_level: int
    ack_deadline: datetime | None
    annotations: Any


async def iterate_stored_alerts(
    session: AsyncSession, *, batch: int = 500
) -> AsyncIterator[list[StoredAlert]]:
    """Yield every alert in id order, a batch at a time, as plain tuples."""
    columns = tuple(getattr(AlertRow, name) for name in StoredAlert._fields)
    conn = await session.connection()
    low: int | None = None
    while True:
        stmt = select(*columns).order_by(AlertRow.id).limit(batch)
        if low is not None:
            stmt = stmt.where(AlertRow.id > low)
        rows = [StoredAlert._make(r) for r in (await conn.execute(stmt)).all()]
        if rows:
            yield rows
        if len(rows) < batch:
            return
        low = rows[-1].id
