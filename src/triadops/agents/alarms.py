"""Alerts the agents raise: a failed consultation (warning), a violation (critical)."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triadops.constitution import lifecycle
from triadops.domain.agents import AgentReport
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.operations import utcnow
from triadops.ops.alerts import service
from triadops.settings import Settings

log = structlog.stdlib.get_logger(__name__)
SOURCE = "agents"
FAILED = "TriadAgentFailed"
VIOLATION = "TriadAgentViolation"


async def raise_alert(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, alert: AlertIn
) -> None:
    """Store one alert in its own short transaction; a failure to alert is logged, not raised.

    Called after the model call, never while a transaction is open around it.
    """
    try:
        async with sessions() as session:
            now = utcnow()
            await service.ingest(
                session, [alert], source=SOURCE, now=now, settings=settings.alerts, by=SOURCE
            )
            await lifecycle.commit(session)
    except Exception as exc:
        log.warning("agent alert not stored", alert=alert.labels["alertname"], error=repr(exc))


def failed(report: AgentReport, *, operation_id: str | None, window_s: float) -> AlertIn:
    """A consultation that failed: the decision went to a person or failed closed."""
    now = utcnow()
    return AlertIn(
        labels={"alertname": FAILED, "agent": report.agent.value, "model": report.model},
        severity=Severity.WARNING,
        annotations={
            "summary": f"the {report.agent.value} agent gave no valid answer",
            "error": report.error or "unknown",
            "operation_id": operation_id or "",
        },
        starts_at=now,
        # Repeats push the end on; an agent that answers again lets it lapse.
        ends_at=now + timedelta(seconds=window_s),
    )


def recovered(agent: str, model: str) -> AlertIn:
    """The agent answers again: its failure alert resolves."""
    return AlertIn(labels={"alertname": FAILED, "agent": agent, "model": model}, status="resolved")


def violation(report: AgentReport | None, *, operation_id: str, detail: str) -> AlertIn:
    """The executor tried to act outside the approved plan: a person must look."""
    return AlertIn(
        labels={
            "alertname": VIOLATION,
            "agent": "executor",
            "operation_id": operation_id,
        },
        severity=Severity.CRITICAL,
        annotations={
            "summary": f"the executor agent acted outside the approved plan of {operation_id}",
            "detail": detail,
            "model": report.model if report else "",
        },
        starts_at=utcnow(),
    )
