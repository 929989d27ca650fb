"""What the monitor runs on a cadence for alerts: housekeeping, muting, the alert cycle.

The monitor (`ops.monitor`) starts each on its own cadence; each is idle-cheap (it reads
first and takes the write lock only when there is work) and idempotent, so a pass that
dies is simply run again. `housekeep` lives here; the others are re-exported from the
modules that own their concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.ops.alerts import events, lifecycle
from triadops.ops.alerts.dispatch import run_cycle as run_cycle
from triadops.ops.alerts.engine import as_utc
from triadops.ops.alerts.matching import Moves, plan_release
from triadops.ops.alerts.policy import Act
from triadops.ops.alerts.silences import expire_ended_silences
from triadops.ops.alerts.silences import mute_audible as mute_audible
from triadops.storage import alerts as store


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
        lifecycle.resolve(
            session,
            row,
            act=Act.EXPIRE,
            by=events.MONITOR,
            at=now,
            reason="ends_at passed",
            resolved_at=when,
        )
    expired, unmuted = await expire_ended_silences(session, now=now, moves=moves)
    return Housekeeping(resolved=len(ended), expired=expired, unmuted=unmuted)
