"""The alerts a security report stands for: one per vulnerable package, one for the OS.

One cause, one alert: a package with several advisories is one upgrade, so one alert that
names them all; the OS's pending security updates are one alert however many packages wait
(its pending non-security updates wake nobody). A skipped audit is an info alert, so an
offline machine is not mistaken for a safe one. The newest report is the whole picture:
what it no longer stands for resolves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.security import SecurityReport
from triadops.ops.alerts import service
from triadops.settings.alerts import AlertSettings

SOURCE = "security"
LISTED_IDS = 10


def alerts_for(report: SecurityReport) -> list[AlertIn]:
    """Return the alerts `report` stands for."""
    raised: list[AlertIn] = []
    for found in report.python.vulnerable:
        ids = ", ".join(found.ids[:LISTED_IDS])
        fix = f"; fixed in {', '.join(found.fix_versions)}" if found.fix_versions else ""
        raised.append(
            AlertIn(
                labels={
                    "alertname": "PythonPackageVulnerable",
                    "package": found.package,
                    "source": SOURCE,
                },
                annotations={
                    "summary": f"{found.package} {found.version} has known vulnerabilities "
                    f"({ids}){fix}",
                    "description": found.description,
                },
                severity=Severity.WARNING,
            )
        )
    if report.os.security:
        raised.append(
            AlertIn(
                labels={"alertname": "OsSecurityUpdatesPending", "source": SOURCE},
                annotations={
                    "summary": f"{report.os.security} security updates pending "
                    f"({report.os.pending} updates in all, {report.os.manager})"
                },
                severity=Severity.WARNING,
            )
        )
    if report.python.status == "skipped":
        raised.append(
            AlertIn(
                labels={"alertname": "SecurityAuditSkipped", "source": SOURCE},
                annotations={"summary": f"the security audit was skipped: {report.python.reason}"},
                severity=Severity.INFO,
            )
        )
    return raised


async def follow(
    session: AsyncSession, report: SecurityReport, *, now: datetime, settings: AlertSettings
) -> int:
    """Raise what `report` stands for and resolve the rest; the caller commits.

    Returns how many alerts it stands for.
    """
    raised = alerts_for(report)
    if raised:
        await service.ingest(session, raised, source=SOURCE, now=now, settings=settings)
    present = {alert.fingerprint for alert in raised}
    await service.auto_resolve(session, source=SOURCE, present=present, now=now)
    return len(raised)
