"""Health's read models: the domain's reports, built from stored rows in this one place.

The API's ``/constitutional-health`` and ``triad health`` render these domain objects
(`domain.health`), never the stored rows.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.health import ComponentHealth as ComponentHealth
from triadops.domain.health import HealthCheck as HealthCheck
from triadops.domain.health import HealthReport, HealthReportSummary
from triadops.domain.health import RaisedAlert as RaisedAlert
from triadops.storage import health as store
from triadops.storage.tables import HealthReportRow


def report_of(row: HealthReportRow) -> HealthReport:
    """Return a stored report as the model, with its id."""
    return HealthReport.model_validate({**row.report, "id": row.id})


async def latest(session: AsyncSession) -> HealthReport | None:
    """Return the newest stored report, or None when none was stored."""
    row = await store.latest_report(session)
    return None if row is None else report_of(row)


async def history(
    session: AsyncSession, *, limit: int, before_id: int | None = None
) -> list[HealthReportSummary]:
    """Return up to `limit` stored reports' headlines, newest first, below `before_id`."""
    return await store.list_reports(session, limit=limit, before_id=before_id)
