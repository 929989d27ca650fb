"""Alerts as the database keeps them: ingest, acknowledge, resolve, auto-resolve.

Each function works in the caller's transaction; every change of an alert's state goes
through `lifecycle.transition`, which enforces its rules on the locked row and queues its
ledger entry; the caller commits both with ``lifecycle.commit``. Ingest is in `ingest`,
what the monitor runs on a cadence in `scheduled`; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import AlertState, Severity
from triadops.domain.identity import Identity
from triadops.ops.alerts import events, lifecycle
from triadops.ops.alerts.engine import as_utc
from triadops.ops.alerts.ingest import RACE_ATTEMPTS as RACE_ATTEMPTS
from triadops.ops.alerts.ingest import IngestResult as IngestResult
from triadops.ops.alerts.ingest import ingest as ingest
from triadops.ops.alerts.policy import Act
from triadops.ops.alerts.scheduled import Housekeeping as Housekeeping
from triadops.ops.alerts.scheduled import housekeep as housekeep
from triadops.ops.alerts.scheduled import housekeeping_due as housekeeping_due
from triadops.storage import alerts as store
from triadops.storage.tables import AlertRow


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
    said = reason or f"resolved by {by.name}"
    lifecycle.resolve(session, row, act=Act.RESOLVE, by=by, at=now, reason=said)
    return row


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
            lifecycle.resolve(session, row, act=Act.EXPIRE, by=by, at=now, reason=reason)
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
            reason = f"answered by {by}"
            lifecycle.resolve(session, row, act=Act.ANSWER, by=by, at=now, reason=reason)
            resolved.append(row.id)
    return resolved
