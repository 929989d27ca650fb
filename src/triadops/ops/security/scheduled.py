"""What the monitor's leader runs for security: alerts follow each new report."""

from __future__ import annotations

from datetime import datetime

from triadops.constitution import lifecycle
from triadops.constitution.powers import Powers
from triadops.ops.security import service
from triadops.storage.security import latest_report, latest_report_id


async def follow_reports(powers: Powers, *, now: datetime, seen: int | None) -> int | None:
    """Follow the newest report when it is not `seen`; return the id now followed.

    One primary-key read when nothing is new. A new leader (`seen` None) follows the
    newest once more, which the alerts' deduplication makes harmless.
    """
    async with powers.reading() as session:
        newest = await latest_report_id(session)
        if newest is None or newest == seen:
            return seen
        report = await latest_report(session)
    if report is None:
        return seen
    async with powers.sessions() as session:
        await service.follow(session, report, now=now, settings=powers.settings.alerts)
        await lifecycle.commit(session)
    return report.id
