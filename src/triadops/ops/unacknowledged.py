"""Page the crown for an emergency operation nobody acknowledged in time.

Emergency treatment runs before the crown looks (SOP-002) and owes it an acknowledgement by
a deadline. Past the deadline, the monitoring loop raises an emergency alert naming the
operation, which routes to the crown and escalates like any emergency; once the crown
acknowledges the operation, the next pass resolves it in the name of the crown principal who
acknowledged (only the crown ends an emergency). The alert is raised by triad itself
(source ``triad``), never by a token.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import AlertIn, Severity
from triadops.ops.alerts import matching, service
from triadops.settings import AlertSettings
from triadops.storage import acknowledgements
from triadops.storage import alerts as alert_store

ALERTNAME = "TriadEmergencyUnacknowledged"
SOURCE = "triad-acknowledgements"
"""The alerts' source: this module alone raises and resolves alerts under it."""


def page_for(op: acknowledgements.Unacknowledged) -> AlertIn:
    """Return the alert that pages the crown about `op`."""
    return AlertIn(
        labels={"alertname": ALERTNAME, "operation_id": op.id, "source": "triad"},
        annotations={
            "summary": f"emergency operation {op.id} (requested by {op.requested_by}, now "
            f"{op.status}) was not acknowledged by the crown by "
            f"{op.deadline.isoformat()}",
            "runbook": f"triad ops show {op.id}; then triad ops ack {op.id} as the crown",
        },
        severity=Severity.EMERGENCY,
    )


async def page_unacknowledged(
    session: AsyncSession,
    *,
    now: datetime,
    settings: AlertSettings,
    prepared: matching.Prepared,
) -> tuple[int, int]:
    """Raise a page for each overdue emergency not yet paged; resolve acknowledged ones.

    Returns (raised, resolved). A page the crown resolved without acknowledging the
    operation is raised again: only the acknowledgement ends the debt. `prepared` matched
    `pages_to_raise` against the silences before this transaction began.
    """
    overdue, paged = await _standing(session, now)
    new = [page for fingerprint, page in overdue.items() if fingerprint not in paged]
    if new:
        await service.ingest(
            session, new, source=SOURCE, now=now, settings=settings, prepared=prepared
        )
    answered = await _answered(session, {f: op for f, op in paged.items() if f not in overdue})
    resolved = await service.resolve_answered(session, source=SOURCE, answered=answered, now=now)
    return len(new), len(resolved)


async def pages_to_raise(session: AsyncSession, *, now: datetime) -> list[AlertIn]:
    """Return the pages that overdue emergencies call for and that are not raised yet."""
    overdue, paged = await _standing(session, now)
    return [page for fingerprint, page in overdue.items() if fingerprint not in paged]


async def pages_due(session: AsyncSession, *, now: datetime) -> bool:
    """True when a page is to be raised or resolved: read first, write only then."""
    overdue, paged = await _standing(session, now)
    if any(fingerprint not in paged for fingerprint in overdue):
        return True
    return bool(await _answered(session, {f: op for f, op in paged.items() if f not in overdue}))


async def _standing(
    session: AsyncSession, now: datetime
) -> tuple[dict[str, AlertIn], dict[str, str]]:
    """Return the pages the overdue emergencies call for, and the raised ones' operations."""
    owed = await acknowledgements.unacknowledged_emergencies(session, now=now)
    overdue = {page.fingerprint: page for page in map(page_for, owed)}
    raised = await alert_store.unresolved_alerts(session, source=SOURCE)
    return overdue, {row.fingerprint: row.labels.get("operation_id", "") for row in raised}


async def _answered(session: AsyncSession, pages: dict[str, str]) -> dict[str, str]:
    """Return the pages (by fingerprint) whose operation the crown has acknowledged, and who."""
    if not pages:
        return {}
    by = await acknowledgements.acknowledged_by(session, set(pages.values()))
    return {f: by[op] for f, op in pages.items() if op in by}
