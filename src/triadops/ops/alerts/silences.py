"""Silences: add one (muting what it matches at once), expire one (unmuting), and their gates.

Every silence ends: a person's within ``max_silence_s``, a change-linked one within what
its caller allows (``change_silence_max_s``). Muting and unmuting are ledger events of each
alert; creating and expiring are events of the silence, with the acting principal.

A silence sees an alert's labels with ``severity`` set to the severity it escalates with
(`domain.alerts.silence_labels`), so whether it can mute an emergency or a critical alert
is read from its matchers alone, and decides who may add it (`silencers_for`).
Matchers are RE2 regexes: a match takes time linear in the label, compiled once per set of
silences. No regex runs under the write lock: what to mute or release is matched first in
a read-only session (`plan_add`, `plan_release`, `plan_mute`), and the write transaction
only checks that each alert found is still in the state it was matched in and that the
silence it moves to is still in force. An alert raised in between is matched by ingest
against the silences then in force; one the plan did not see is muted by the alert
cycle's `mute_audible`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.alerts import (
    AlertState,
    Matcher,
    Severity,
    new_silence_id,
    severities_matched,
    silenced_by,
    silencers_for,
)
from triadops.domain.enums import Authority
from triadops.domain.identity import Identity
from triadops.ops.alerts import events, lifecycle
from triadops.ops.alerts.engine import StaleMatches, as_utc
from triadops.ops.alerts.matching import (
    AUDIBLE,
    Moves,
    not_begun,
    plan_add,
    plan_mute,
    plan_release,
    seen,
)
from triadops.ops.alerts.models import Alert, alert_of
from triadops.ops.alerts.policy import Act, Actor, actor_name
from triadops.ops.alerts.silence_policy import (
    MAX_MATCHERS,
    SilenceAttempt,
    SilenceState,
    check_matchers,
    silence_end,
)
from triadops.storage import alerts as store
from triadops.storage.tables import SilenceRow

MAX_SILENCE_S = 30 * 86400.0
"""The default cap on a silence's length (``alerts.max_silence_s``)."""
PREVIEW_LIMIT = 500
"""The most alerts a preview lists (all that match are counted)."""
PLAN_ATTEMPTS = 3
"""Plans made before expiring a silence; the last one's write lets what it missed sound."""

log = structlog.stdlib.get_logger(__name__)

__all__ = [
    "MAX_MATCHERS",
    "MAX_SILENCE_S",
    "Actor",
    "Preview",
    "actor_name",
    "add_silence",
    "check_matchers",
    "expire",
    "expire_ended_silences",
    "expire_silence",
    "mute_audible",
    "preview_silence",
    "silence_end",
]


async def add_silence(
    session: AsyncSession,
    *,
    matchers: Sequence[Matcher],
    comment: str,
    by: Actor,
    now: datetime,
    ends_at: datetime | None = None,
    duration_s: float | None = None,
    operation_id: str | None = None,
    max_duration_s: float = MAX_SILENCE_S,
) -> SilenceRow:
    """Add a silence from `now` and mute the unresolved alerts it matches at once.

    Give `ends_at` or `duration_s`; neither may reach past `max_duration_s` from now.
    A change-linked silence names its `operation_id` and is filed under it in the ledger.
    Alerts another silence already mutes keep theirs.
    """
    now = as_utc(now)
    asked = SilenceAttempt(
        by,
        matchers,
        now=now,
        ends_at=ends_at,
        duration_s=duration_s,
        max_duration_s=max_duration_s,
    )
    lifecycle.enforce_silence(SilenceState.ACTIVE, asked)
    end = asked.end()
    actor = actor_name(by)
    not_begun(session)
    async with store.reading_beside(session) as reader:
        planned = await plan_add(reader, matchers)
    await store.lock_silences(session)
    stored = [m.model_dump(mode="json") for m in matchers]
    row = store.add_silence_row(
        session,
        id=new_silence_id(now),
        matchers=stored,
        comment=comment,
        created_by=actor,
        created_at=now,
        starts_at=now,
        ends_at=end,
        operation_id=operation_id,
    )
    events.record_silence(
        session,
        silence_id=row.id,
        event=events.SILENCE_CREATED,
        actor=actor,
        at=now,
        operation_id=operation_id,
        details={"matchers": list(stored), "ends_at": end.isoformat(), "comment": comment},
    )
    for alert in await store.lock_alerts(session, planned):
        if alert.state in AUDIBLE:
            lifecycle.mute(session, alert, row.id, by=actor, at=now)
    return row


@dataclass(frozen=True, slots=True)
class Preview:
    """What a silence would do if added now, and who may add it."""

    severities: tuple[Severity, ...]
    """The severities it can mute (all, unless a ``severity`` matcher leaves some out)."""
    requires: tuple[Authority, ...]
    """The authorities that may add it: any one of them."""
    matched: int
    """How many unresolved alerts it matches now."""
    alerts: list[Alert]
    """Those alerts, oldest first (at most `PREVIEW_LIMIT`): firing and acknowledged ones it
    would mute; silenced ones keep the silence that mutes them."""
    allowed: bool
    """Whether the asker may add it."""


async def preview_silence(
    session: AsyncSession, *, matchers: Sequence[Matcher], by: Identity
) -> Preview:
    """Say what a silence with `matchers` would mute now and who may add it; add nothing."""
    check_matchers(matchers)
    unresolved = await store.unresolved_alerts(session)
    matched = [alert for alert in unresolved if silenced_by(matchers, seen(alert))]
    requires = silencers_for(matchers)
    return Preview(
        severities=tuple(severities_matched(matchers)),
        requires=requires,
        matched=len(matched),
        alerts=[alert_of(row) for row in matched[:PREVIEW_LIMIT]],
        allowed=any(by.holds(authority) for authority in requires),
    )


async def expire_silence(
    session: AsyncSession, *, silence_id: str, by: Actor, now: datetime
) -> SilenceRow:
    """End a silence now; the alerts it muted sound again unless another silence covers them."""
    lifecycle.may_expire(by)
    now = as_utc(now)
    not_begun(session)
    mark = ledger.pending_mark(session)
    for attempt in range(1, PLAN_ATTEMPTS + 1):
        async with store.reading_beside(session) as reader:
            moves = await plan_release(reader, now=now, leaving=(silence_id,))
        await store.lock_silences(session)
        row = await store.get_silence(session, silence_id, for_update=True)
        lifecycle.enforce_silence(SilenceState.EXPIRED, SilenceAttempt(by, row=row))
        try:
            await expire(
                session,
                [row],
                actor=actor_name(by),
                now=now,
                reason="expired",
                moves=moves,
                strict=attempt < PLAN_ATTEMPTS,
            )
        except StaleMatches:
            # Its alerts or the silences in force moved since the plan: plan again, unlocked.
            await session.rollback()
            ledger.discard_after(session, mark)
            continue
        return row
    raise AssertionError("the last attempt is never strict")


async def expire_ended_silences(
    session: AsyncSession, *, now: datetime, moves: Moves | None = None
) -> tuple[int, int]:
    """Expire the silences whose end has passed; return (silences expired, alerts unmuted)."""
    now = as_utc(now)
    rows = await store.ended_silences(session, now=now)
    if not rows:
        return 0, 0
    await store.lock_silences(session)
    unmuted = await expire(
        session, rows, actor=events.MONITOR, now=now, reason="ended", moves=moves
    )
    return len(rows), unmuted


async def expire(
    session: AsyncSession,
    rows: Sequence[SilenceRow],
    *,
    actor: str,
    now: datetime,
    reason: str,
    moves: Moves | None = None,
    strict: bool = False,
) -> int:
    """Mark `rows` expired and give their alerts to another silence or back to the room.

    Which other silence takes an alert was matched before the lock (`moves`, from
    `plan_release`). An alert it did not see, or matched against other silences than
    those now in force, raises StaleMatches when `strict` (the caller plans again);
    otherwise it goes to its planned silence if that still holds, else sounds again and
    the alert cycle's `mute_audible` mutes it if a silence covers it. Returns how many
    alerts sound again. The caller holds `store.lock_silences`.
    """
    for row in rows:
        lifecycle.end_silence(session, row, by=actor, at=now, reason=reason)
    await session.flush()
    in_force = await store.silences_in_force(session, now=now)
    planned = moves if moves is not None and moves.now == now else Moves(now)
    unmuted = 0
    for row in rows:
        muted = await store.unresolved_alerts(
            session, states=(AlertState.SILENCED.value,), silence_id=row.id, for_update=True
        )
        for alert in muted:
            if strict and not planned.holds(alert, in_force):
                raise StaleMatches(f"alert {alert.id}")
            other = planned.target(alert, in_force)
            if other is not None:
                lifecycle.mute(session, alert, other, by=actor, at=now)
                continue
            alert.silence_id = None
            lifecycle.transition(
                session,
                alert,
                AlertState.ACKNOWLEDGED if alert.acknowledged_by else AlertState.FIRING,
                act=Act.UNMUTE,
                event=events.ALERT_UNSILENCED,
                by=actor,
                at=now,
                details={"silence": None, "ended": row.id},
            )
            unmuted += 1
    return unmuted


async def mute_audible(session: AsyncSession, *, now: datetime, moves: Moves | None = None) -> int:
    """Mute the firing and acknowledged alerts a silence in force selects; return how many.

    People's silences mute at once when added; a change-linked silence is opened by the
    commit that starts its operation, which knows nothing of alerts, so the alert cycle
    catches up here. `moves` is `plan_mute`'s, matched before the write transaction: only
    the alerts it found are locked, and muted if still audible and their silence holds.
    Without `moves` the session must not have begun: it is planned beside it first.
    """
    now = as_utc(now)
    if moves is None:
        not_begun(session)
        async with store.reading_beside(session) as reader:
            moves = await plan_mute(reader, now=now)
    if not moves.to or moves.now != now:
        return 0
    muted = 0
    await store.lock_silences(session)
    in_force = await store.silences_in_force(session, now=now)
    for alert in await store.lock_alerts(session, moves.to):
        found = moves.target(alert, in_force)
        if found is not None:
            lifecycle.mute(session, alert, found, by=events.MONITOR, at=now)
            muted += 1
    return muted
