"""Alerts as the database keeps them: ingest, acknowledge, resolve, auto-resolve, housekeep.

Each function works in the caller's transaction and queues a ledger entry for every change
of an alert's state (`events`); the caller commits both with ``lifecycle.commit``. Gates
are checked on the locked row in that transaction. A mere repeat (count, last_seen) is not
a ledger event: it changes no state anyone answers for, and a noisy source would otherwise
write the ledger at its own rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.crown.alert_audit import annotations_digest
from triadops.domain.alerts import AlertIn, AlertState, Severity
from triadops.domain.errors import Conflict
from triadops.domain.identity import Identity
from triadops.ops.alerts import events, lifecycle
from triadops.ops.alerts.engine import (
    AlertBook,
    Change,
    ChangeKind,
    StaleMatches,
    Tracked,
    as_utc,
)
from triadops.ops.alerts.matching import Moves, Prepared, plan_release, prepare_ingest
from triadops.ops.alerts.policy import Act, Actor, Poster, actor_name
from triadops.ops.alerts.silences import expire_ended_silences
from triadops.settings import AlertSettings
from triadops.storage import alerts as store
from triadops.storage.tables import AlertRow

RACE_ATTEMPTS = 3
"""Ingests of a batch that lost a race for a new fingerprint to another replica: the batch
is decided again with that replica's alert in view."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What a batch did: each alert is new, repeated, resolved, ignored, refused or failed."""

    received: int
    new: int
    repeated: int
    """Repeats of an unresolved alert, including those a silence now mutes or released."""
    resolved: int
    ignored: int
    """Resolutions of alerts that were not unresolved (never seen, or resolved already)."""
    silenced: int
    """Received firing alerts that a silence mutes (counted among new or repeated too)."""
    failed: int = 0
    """Alerts whose rows the database refused; the rest of the batch was kept."""
    refused: int = 0
    """Resolutions the poster may not make (not its alert, or an emergency without the
    crown): they changed nothing; the rest of the batch was kept."""
    refusals: tuple[str, ...] = ()
    """Why each refused resolution was refused, in order."""


async def ingest(
    session: AsyncSession,
    alerts: Sequence[AlertIn],
    *,
    source: str,
    now: datetime,
    settings: AlertSettings,
    by: str = events.MONITOR,
    crown: bool = False,
    prepared: Prepared | None = None,
) -> IngestResult:
    """Deduplicate, silence and store a batch of raised alerts; queue their ledger entries.

    `source` says how they came (``health``, ``api``, ``alertmanager``); `by` is the
    principal that posted them, the ledger's actor and the source of the alerts it raises;
    `crown` says whether it holds the crown. Only an alert's source may resolve it or change
    what it says by posting, and an emergency it resolves only with the crown
    (`lifecycle.posted_refusal`). Reads only the batch's fingerprints and the active
    silences, through indexes. Two replicas raising the same new alert store one row: the
    second insert meets the partial unique index and the batch is decided again.

    Silences are matched before the write lock, never under it: given a session that has
    not begun, ingest matches in a read-only session of its own, and when the silences in
    force changed before it wrote, rolls back and matches again. A caller whose transaction
    is already open passes what `prepare_ingest` found before it began (Conflict if stale).
    """
    now = as_utc(now)
    if not alerts:
        return IngestResult(0, 0, 0, 0, 0, 0)
    own = prepared is None
    if own and session.in_transaction():
        raise RuntimeError("ingest in an open transaction needs prepare_ingest's result")
    for _ in range(RACE_ATTEMPTS):
        if own:
            async with store.reading_beside(session) as reader:
                prepared = await prepare_ingest(reader, alerts, now=now)
        assert prepared is not None
        await store.share_silences(session)
        savepoint = await session.begin_nested()
        try:
            fresh = prepared.now == now and prepared.in_force == (
                await store.silences_in_force(session, now=now)
            )
            if not fresh:
                raise StaleMatches("silences in force")
            changes, failed, raced, refusals = await _decide_and_store(
                session,
                alerts,
                prepared,
                source=source,
                now=now,
                settings=settings,
                by=by,
                crown=crown,
            )
        except StaleMatches:
            await savepoint.rollback()
            if not own:
                raise Conflict(
                    "silences changed while the alerts were being stored; try again"
                ) from None
            await session.rollback()  # the write lock goes: match again outside it
            continue
        except BaseException:
            await savepoint.rollback()
            raise
        if raced:
            await savepoint.rollback()
            if own:
                await session.rollback()
            continue
        await savepoint.commit()
        _record(session, changes, failed, source=source, by=by, now=now)
        return _count(changes, failed, refusals)
    raise Conflict("alerts kept being raised by another replica at the same time; try again")


async def _decide_and_store(
    session: AsyncSession,
    alerts: Sequence[AlertIn],
    prepared: Prepared,
    *,
    source: str,
    now: datetime,
    settings: AlertSettings,
    by: str,
    crown: bool,
) -> tuple[list[Change], set[int], bool, tuple[str, ...]]:
    known = await store.lock_active_alerts(session, [a.fingerprint for a in alerts])
    book = AlertBook(
        group_by=settings.group_by,
        routes=settings.routes,
        known=[_tracked(row) for row in known],
        silences=prepared.silences,
        poster=Poster(by, crown=crown),
        matches=prepared.matches,
    )
    changes = book.apply(alerts, now)
    refusals = tuple(book.refusals)
    touched = list({id(c.alert): c.alert for c in changes if c.alert is not None}.values())
    writing = _Writing(source=source, now=now, by=by, settings=settings)
    try:
        async with session.begin_nested():
            raced = await writing.store(session, touched)
        return changes, set(), raced, refusals
    except DBAPIError:
        pass
    # One row the database refuses must not cost the others: each in its own savepoint.
    failed: set[int] = set()
    raced = False
    for tracked in touched:
        try:
            async with session.begin_nested():
                raced = await writing.store(session, [tracked]) or raced
        except DBAPIError:
            failed.add(id(tracked))
    return changes, failed, raced, refusals


@dataclass(frozen=True, slots=True)
class _Writing:
    source: str
    now: datetime
    by: str
    settings: AlertSettings

    async def store(self, session: AsyncSession, touched: Sequence[Tracked]) -> bool:
        """Write new and changed instances and their groups; True if a new one raced."""
        new = sorted((t for t in touched if t.id is None), key=lambda t: t.fingerprint)
        upserted = await store.upsert_alerts(session, [self._insert(t) for t in new])
        returned: dict[tuple[str, bool], list[store.Upserted]] = {}
        for row in upserted:
            returned.setdefault((row.fingerprint, row.state == store.RESOLVED), []).append(row)
        raced = False
        for tracked in new:
            row = returned[(tracked.fingerprint, tracked.state is AlertState.RESOLVED)].pop(0)
            tracked.id = row.id
            raced = raced or row.times != tracked.count
        if raced:
            return True
        inserted = {id(t) for t in new}
        changed = [self._update(t) for t in touched if id(t) not in inserted]
        await store.update_alerts(session, changed)
        group_by = self.settings.group_by
        groups = {t.group_key: {n: t.labels.get(n, "") for n in group_by} for t in touched}
        first_flush = self.now + timedelta(seconds=self.settings.group_wait_s)
        await store.ensure_groups(session, groups, now=self.now, first_flush_at=first_flush)
        return False

    def _insert(self, t: Tracked) -> dict[str, Any]:
        resolved = t.state is AlertState.RESOLVED
        return {
            "fingerprint": t.fingerprint,
            "alertname": t.alertname,
            "state": t.state.value,
            "severity": t.severity.value,
            "labels": t.labels,
            "annotations": t.annotations,
            "source": self.source,
            "raised_by": self.by,
            "group_key": t.group_key,
            "count": t.count,
            "starts_at": t.starts_at,
            "last_seen": t.last_seen,
            "ends_at": t.ends_at,
            "resolved_at": t.resolved_at,
            "resolved_by": self.by if resolved else None,
            "silence_id": t.silence_id,
            "escalation_level": 0,
            "generator_url": t.generator_url,
        }

    def _update(self, t: Tracked) -> dict[str, Any]:
        resolved = t.state is AlertState.RESOLVED
        return {
            "id": t.id,
            "state": t.state.value,
            "count": t.count,
            "last_seen": t.last_seen,
            "annotations": t.annotations,
            "ends_at": t.ends_at,
            "generator_url": t.generator_url,
            "silence_id": t.silence_id,
            "resolved_at": t.resolved_at,
            "resolved_by": self.by if resolved else None,
        }


def _tracked(row: store.ActiveAlert) -> Tracked:
    return Tracked(
        fingerprint=row.fingerprint,
        labels=row.labels,
        severity=Severity(row.severity),
        group_key=row.group_key,
        state=AlertState(row.state),
        starts_at=row.starts_at,
        last_seen=row.last_seen,
        count=row.times,
        id=row.id,
        silence_id=row.silence_id,
        acknowledged=row.acknowledged_by is not None,
        annotations=row.annotations,
        ends_at=row.ends_at,
        generator_url=row.generator_url,
        raised_by=row.raised_by,
    )


_EVENTS = {
    ChangeKind.RESOLVED: events.ALERT_RESOLVED,
    ChangeKind.SILENCED: events.ALERT_SILENCED,
    ChangeKind.UNSILENCED: events.ALERT_UNSILENCED,
}


def _record(
    session: AsyncSession,
    changes: Sequence[Change],
    failed: set[int],
    *,
    source: str,
    by: str,
    now: datetime,
) -> None:
    for change in changes:
        alert = change.alert
        if alert is None or alert.id is None or id(alert) in failed or change.state is None:
            continue
        if change.annotated:
            # Only its source can change what an alert says; the change is on the record.
            events.record_alert(
                session,
                alert_id=alert.id,
                event=events.ALERT_ANNOTATED,
                actor=by,
                state=change.state,
                at=now,
                details={
                    "annotations": dict(alert.annotations),
                    "generator_url": alert.generator_url,
                },
            )
        if change.kind is ChangeKind.FIRED:
            details: dict[str, Any] = {
                "fingerprint": alert.fingerprint,
                "alertname": alert.alertname,
                "severity": alert.severity.value,
                "source": source,
                "group": alert.group_key,
                "silence": change.silence_id,
                "annotations_sha256": annotations_digest(alert.annotations),
            }
            event = events.ALERT_FIRED
        elif change.kind in _EVENTS:
            event = _EVENTS[change.kind]
            details = {"silence": change.silence_id}
            if change.kind is ChangeKind.RESOLVED:
                details["reason"] = f"resolved by {source}"
        else:
            continue
        events.record_alert(
            session,
            alert_id=alert.id,
            event=event,
            actor=by,
            state=change.state,
            at=now,
            details=details,
        )


def _count(changes: Sequence[Change], failed: set[int], refusals: tuple[str, ...]) -> IngestResult:
    counts = dict.fromkeys(ChangeKind, 0)
    silenced = lost = 0
    for change in changes:
        if change.alert is not None and id(change.alert) in failed:
            lost += 1
            continue
        counts[change.kind] += 1
        if change.kind is not ChangeKind.RESOLVED and change.state is AlertState.SILENCED:
            silenced += 1
    return IngestResult(
        received=len(changes),
        new=counts[ChangeKind.FIRED],
        repeated=counts[ChangeKind.REPEATED]
        + counts[ChangeKind.SILENCED]
        + counts[ChangeKind.UNSILENCED],
        resolved=counts[ChangeKind.RESOLVED],
        ignored=counts[ChangeKind.IGNORED],
        silenced=silenced,
        failed=lost,
        refused=counts[ChangeKind.REFUSED],
        refusals=refusals,
    )


async def acknowledge(
    session: AsyncSession, *, alert_id: int, by: Identity, now: datetime
) -> AlertRow:
    """Take an alert: its escalation stops waiting; a silenced one stays silenced."""
    now = as_utc(now)
    row = await store.get_alert(session, alert_id, for_update=True)
    state = AlertState(row.state)
    lifecycle.transition(
        session,
        row,
        AlertState.ACKNOWLEDGED if state is AlertState.FIRING else state,
        act=Act.ACKNOWLEDGE,
        event=events.ALERT_ACKNOWLEDGED,
        by=by,
        at=now,
    )
    row.acknowledged_at, row.acknowledged_by = now, by.name
    return row


async def resolve(
    session: AsyncSession,
    *,
    alert_id: int,
    by: Identity,
    now: datetime,
    reason: str | None = None,
) -> AlertRow:
    """Close an alert by hand; if its source raises it again, it opens a new one."""
    now = as_utc(now)
    row = await store.get_alert(session, alert_id, for_update=True)
    _resolve(
        session, row, act=Act.RESOLVE, by=by, now=now, reason=reason or f"resolved by {by.name}"
    )
    return row


def _resolve(
    session: AsyncSession,
    row: AlertRow,
    *,
    act: Act,
    by: Actor,
    now: datetime,
    reason: str,
    resolved_at: datetime | None = None,
) -> None:
    lifecycle.transition(
        session,
        row,
        AlertState.RESOLVED,
        act=act,
        event=events.ALERT_RESOLVED,
        by=by,
        at=now,
        details={"reason": reason},
    )
    row.resolved_at, row.resolved_by = resolved_at or now, actor_name(by)


async def auto_resolve(
    session: AsyncSession,
    *,
    source: str,
    present: set[str],
    now: datetime,
    by: str = events.MONITOR,
) -> list[int]:
    """Resolve `source`'s unresolved alerts whose fingerprints it did not raise this time.

    For a source that reports its whole picture each pass (the health loop): what it no
    longer raises has cleared. An emergency waits for the crown. Returns the ids resolved.
    """
    now = as_utc(now)
    resolved = []
    for row in await store.unresolved_alerts(session, source=source, for_update=True):
        if row.fingerprint not in present and row.severity != Severity.EMERGENCY.value:
            reason = f"{source} no longer raises it"
            _resolve(session, row, act=Act.EXPIRE, by=by, now=now, reason=reason)
            resolved.append(row.id)
    return resolved


async def resolve_answered(
    session: AsyncSession, *, source: str, answered: Mapping[str, str], now: datetime
) -> list[int]:
    """Resolve `source`'s alerts whose question the crown has answered, emergencies included.

    `answered` maps a fingerprint to the crown principal whose act answered it (the
    acknowledgement of the operation a page asked about). The resolution is recorded under
    that principal: the crown ended the emergency, triad only noticed. Returns the ids.
    """
    now = as_utc(now)
    resolved = []
    for row in await store.unresolved_alerts(session, source=source, for_update=True):
        by = answered.get(row.fingerprint)
        if by is not None:
            _resolve(session, row, act=Act.ANSWER, by=by, now=now, reason=f"answered by {by}")
            resolved.append(row.id)
    return resolved


@dataclass(frozen=True, slots=True)
class Housekeeping:
    """What a housekeeping pass did."""

    resolved: int
    """Alerts whose ``ends_at`` passed (never an emergency)."""
    expired: int
    """Silences whose end passed."""
    unmuted: int
    """Alerts those silences released (not covered by another)."""


async def housekeeping_due(session: AsyncSession, *, now: datetime) -> bool:
    """True when :func:`housekeep` has work: read first, take the write lock only then."""
    return await store.housekeeping_due(session, now=as_utc(now))


async def housekeep(
    session: AsyncSession, *, now: datetime, moves: Moves | None = None
) -> Housekeeping:
    """Resolve alerts whose ``ends_at`` passed; expire silences whose end passed, unmuting.

    An emergency's ``ends_at`` never ends it: only the crown does (`store.unresolved_alerts`
    leaves emergencies out of `ended_by`). Where the released alerts go was matched before
    the write transaction: `moves` (`silences.plan_release`), or, when the session has not
    begun, in a read-only session beside it.
    """
    now = as_utc(now)
    if moves is None:
        if session.in_transaction():
            raise RuntimeError("housekeep in an open transaction needs plan_release's moves")
        async with store.reading_beside(session) as reader:
            moves = await plan_release(reader, now=now)
    # The silences' lock before any alert row, in the order ingest takes them, so that an
    # ingest and this pass never wait on each other in a circle.
    await store.lock_silences(session)
    ended = await store.unresolved_alerts(session, ended_by=now, for_update=True)
    for row in ended:
        when = min(row.ends_at or now, now)
        _resolve(
            session,
            row,
            act=Act.EXPIRE,
            by=events.MONITOR,
            now=now,
            reason="ends_at passed",
            resolved_at=when,
        )
    expired, unmuted = await expire_ended_silences(session, now=now, moves=moves)
    return Housekeeping(resolved=len(ended), expired=expired, unmuted=unmuted)
