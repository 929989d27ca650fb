"""Matching silences to alerts, done before the write lock and only checked under it.

Issue 15 §3.2: a silence's regexes never run while the database's write lock is held
(SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: rows ``FOR UPDATE``). What a write will need is
matched here, in a read-only session: a batch's silences (`prepare_ingest`), what a new
silence mutes (`plan_add`), where the alerts of ending silences go (`plan_release`) and
what the silences in force mute (`plan_mute`). The write transaction re-reads only the
ids of the silences in force and the rows found, and uses a match only while what it
rested on still holds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import (
    AlertIn,
    AlertState,
    Matcher,
    Severity,
    silence_labels,
    silenced_by,
)
from triadops.ops.alerts.engine import (
    Matches,
    SilenceSet,
    SilenceSpec,
    as_utc,
    compile_silences,
    match_batch,
)
from triadops.storage import alerts as store
from triadops.storage.tables import AlertRow, SilenceRow

log = structlog.stdlib.get_logger(__name__)


AUDIBLE = (AlertState.FIRING.value, AlertState.ACKNOWLEDGED.value)


def not_begun(session: AsyncSession) -> None:
    """Refuse to plan while `session` holds a transaction (its write lock, on SQLite)."""
    if session.in_transaction():
        raise RuntimeError("silences are matched before the write transaction begins")


async def plan_add(session: AsyncSession, matchers: Sequence[Matcher]) -> list[int]:
    """Return the ids of the audible alerts a silence with `matchers` mutes (read only)."""
    audible = await store.unresolved_alerts(session, states=AUDIBLE)
    return [alert.id for alert in audible if silenced_by(matchers, seen(alert))]


@dataclass(frozen=True, slots=True)
class Moves:
    """Where each alert goes, matched in a read-only session: a silence, or None (sounds)."""

    now: datetime
    to: dict[int, str | None] = field(default_factory=dict)
    from_state: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    """The state and silence of each alert when it was matched."""
    in_force: tuple[str, ...] | None = None
    """The ids of the silences matched against (`plan_release`: those staying on)."""

    def holds(self, alert: AlertRow, in_force: tuple[str, ...]) -> bool:
        """True when `alert` and the silences in force are as they were when matched."""
        return self.in_force == in_force and self.from_state.get(alert.id) == (
            alert.state,
            alert.silence_id,
        )

    def target(self, alert: AlertRow, in_force: Collection[str]) -> str | None:
        """Return the silence `alert` moves to, if it is as matched and that one still holds."""
        if self.from_state.get(alert.id) != (alert.state, alert.silence_id):
            return None
        found = self.to.get(alert.id)
        return found if found in in_force else None


async def plan_release(
    session: AsyncSession, *, now: datetime, leaving: Collection[str] = ()
) -> Moves:
    """Match the alerts of silences ending by `now` (or `leaving`) to those staying on."""
    now = as_utc(now)
    ending = {*leaving, *await store.ended_silence_ids(session, now=now)}
    if not ending:
        return Moves(now)
    staying = [r for r in await store.active_silences(session, now=now) if r.id not in ending]
    remaining = compiled_silences(staying)
    moves = Moves(now, in_force=tuple(r.id for r in staying))
    silenced = await store.unresolved_alerts(session, states=(AlertState.SILENCED.value,))
    for alert in silenced:
        if alert.silence_id in ending:
            moves.to[alert.id] = remaining.match(seen(alert), now) if remaining.ids else None
            moves.from_state[alert.id] = (alert.state, alert.silence_id)
    return moves


async def plan_mute(session: AsyncSession, *, now: datetime) -> Moves:
    """Match the audible alerts against the silences in force at `now` (read only)."""
    now = as_utc(now)
    silences = await active_set(session, now=now)
    moves = Moves(now)
    if not len(silences):
        return moves
    for alert in await store.unresolved_alerts(session, states=AUDIBLE):
        found = silences.match(seen(alert), now)
        if found is not None:
            moves.to[alert.id] = found
            moves.from_state[alert.id] = (alert.state, alert.silence_id)
    return moves


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a batch's silencing was decided on before the write lock: `prepare_ingest`."""

    now: datetime
    in_force: tuple[str, ...]
    """The ids of the silences in force at `now` that the batch was matched against."""
    silences: SilenceSet
    matches: Matches
    """The silence muting each (fingerprint, severity) the batch can need, or None."""


async def prepare_ingest(
    session: AsyncSession, alerts: Sequence[AlertIn], *, now: datetime
) -> Prepared:
    """Match a batch against the silences in force, in a read-only session (no write lock).

    Each alert is matched with its own severity and, when an unresolved alert with its
    fingerprint is stored, with that one's: what a new alert or a repeat will need.
    """
    now = as_utc(now)
    rows = await store.active_silences(session, now=now)  # in id order, as silences_in_force
    silences = compiled_silences(rows)
    in_force = tuple(row.id for row in rows)
    wanted: list[tuple[str, Mapping[str, str], Severity]] = [
        (a.fingerprint, a.labels, a.resolved_severity) for a in alerts
    ]
    if silences.ids:
        stored = await store.active_severities(session, [a.fingerprint for a in alerts])
        wanted += [(f, labels, Severity(severity)) for f, labels, severity in stored]
    return Prepared(now, in_force, silences, match_batch(silences, wanted, now))


async def active_set(session: AsyncSession, *, now: datetime) -> SilenceSet:
    """Return the silences in force at `now`, compiled (once per distinct set)."""
    return compiled_silences(await store.active_silences(session, now=now))


def compiled_silences(rows: Sequence[SilenceRow]) -> SilenceSet:
    """Compile stored silences (once per distinct set); one RE2 refuses mutes nothing."""
    specs = []
    for row in rows:
        try:
            specs.append(spec(row))
        except ValidationError:
            # Stored before matchers were RE2 (a lookaround, a backreference): muting nothing
            # is safer than failing every ingest, and it still ends when it was to.
            log.warning("silence has a matcher RE2 refuses; it mutes nothing", silence=row.id)
    return compile_silences(tuple(specs))


def spec(row: SilenceRow) -> SilenceSpec:
    """Return a stored silence as the engine takes it."""
    matchers = tuple(Matcher.model_validate(m) for m in row.matchers)
    return SilenceSpec(id=row.id, ends_at=row.ends_at, matchers=matchers)


def seen(alert: AlertRow) -> Mapping[str, str]:
    """Return a stored alert's labels as silences see them (its severity included)."""
    return silence_labels(alert.labels, Severity(alert.severity))
