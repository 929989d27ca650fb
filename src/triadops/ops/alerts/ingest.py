"""Ingest: deduplicate, silence, group and store a batch of raised alerts, and record it.

The engine decides the batch in memory (`engine.AlertBook`, moving alerts by
`lifecycle.move`); here the batch's known alerts are locked, the decisions written in bulk
and each change of state recorded (`events.record_alert`), in the caller's transaction. A
mere repeat (count, last_seen) is not a ledger event: it changes no state anyone answers
for, and a noisy source would otherwise write the ledger at its own rate.

Two replicas raising the same new alert store one row: the second insert meets the partial
unique index and the batch is decided again. Silences are matched before the write lock,
never under it: given a session that has not begun, ingest matches in a read-only session
of its own, and when the silences in force changed before it wrote, rolls back and matches
again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger.alert_audit import annotations_digest
from triadops.domain.alerts import AlertIn, AlertState, Severity
from triadops.domain.errors import Conflict
from triadops.ops.alerts import events
from triadops.ops.alerts.engine import (
    AlertBook,
    Change,
    ChangeKind,
    StaleMatches,
    Tracked,
    as_utc,
)
from triadops.ops.alerts.matching import Prepared, prepare_ingest
from triadops.ops.alerts.policy import Poster
from triadops.settings import AlertSettings
from triadops.storage import alerts as store

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
    silences, through indexes. A caller whose transaction is already open passes what
    `prepare_ingest` found before it began (Conflict if stale; see the module's notes).
    """
    now = as_utc(now)
    if not alerts:
        return IngestResult(0, 0, 0, 0, 0, 0)
    own = prepared is None
    if own and session.in_transaction():
        raise RuntimeError("ingest in an open transaction needs prepare_ingest's result")
    writing = _Writing(source=source, now=now, by=by, settings=settings)
    for _ in range(RACE_ATTEMPTS):
        if own:
            async with store.reading_beside(session) as reader:
                prepared = await prepare_ingest(reader, alerts, now=now)
        assert prepared is not None
        await store.share_silences(session)
        savepoint = await session.begin_nested()
        try:
            await _still_fresh(session, prepared, now=now)
            changes, failed, raced, refusals = await _decide_and_store(
                session, alerts, prepared, writing, crown=crown
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


async def _still_fresh(session: AsyncSession, prepared: Prepared, *, now: datetime) -> None:
    """Raise StaleMatches when the silences in force changed since `prepared` matched."""
    fresh = prepared.now == now and prepared.in_force == (
        await store.silences_in_force(session, now=now)
    )
    if not fresh:
        raise StaleMatches("silences in force")


async def _decide_and_store(
    session: AsyncSession,
    alerts: Sequence[AlertIn],
    prepared: Prepared,
    writing: _Writing,
    *,
    crown: bool,
) -> tuple[list[Change], set[int], bool, tuple[str, ...]]:
    settings, now = writing.settings, writing.now
    known = await store.lock_active_alerts(session, [a.fingerprint for a in alerts])
    book = AlertBook(
        group_by=settings.group_by,
        routes=settings.routes,
        known=[_tracked(row) for row in known],
        silences=prepared.silences,
        poster=Poster(writing.by, crown=crown),
        matches=prepared.matches,
    )
    changes = book.apply(alerts, now)
    refusals = tuple(book.refusals)
    touched = list({id(c.alert): c.alert for c in changes if c.alert is not None}.values())
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
