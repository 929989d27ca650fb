"""Judge figures against thresholds, score components, and say what alerts a report raises.

Pure: no I/O, no clock. The choices, in one place:

- A component's score is the share of its checks that passed. An unknown check counts as
  not passed: a component that cannot be measured is not known to be healthy.
- The overall score is the mean of the components' scores, so a host with five disks
  weighs no more than one branch.
- One cause, one alert. Each failed check that names an alert (host, databases, targets,
  the API) raises a warning of its own; a component's alert follows the status of its
  other checks (degraded, score at most 0.8: a warning; unhealthy, at most 0.6: critical).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from triadops.domain.alerts import Severity
from triadops.domain.health import (
    CheckStatus,
    ComponentHealth,
    HealthCheck,
    HealthCounters,
    HealthReport,
    HealthStatus,
    RaisedAlert,
)
from triadops.ops.health.policy import DEGRADED_ALERT as DEGRADED_ALERT
from triadops.ops.health.policy import UNHEALTHY_ALERT as UNHEALTHY_ALERT
from triadops.ops.health.policy import at_least as at_least
from triadops.ops.health.policy import at_most as at_most
from triadops.ops.health.policy import score as score


def component(name: str, checks: Sequence[HealthCheck]) -> ComponentHealth:
    """Score one component's checks and read its status."""
    value = score(checks)
    return ComponentHealth(
        name=name, score=value, status=HealthStatus.of(value), checks=list(checks)
    )


def components(checks: Sequence[HealthCheck]) -> list[ComponentHealth]:
    """Group `checks` by component, in the order components first appear."""
    grouped: dict[str, list[HealthCheck]] = {}
    for check in checks:
        grouped.setdefault(check.component, []).append(check)
    return [component(name, found) for name, found in grouped.items()]


def raised_alerts(parts: Sequence[ComponentHealth]) -> list[RaisedAlert]:
    """Return the alerts a report with these components raises: one per cause.

    A failed check that names an alert raises it, at that rule's severity; its component's
    alert is judged on the other checks only, so one dead target or one busy CPU is one
    alert, never also a component's degraded or unhealthy one.
    """
    alerts: list[RaisedAlert] = []
    for part in parts:
        owned = [c for c in part.checks if c.status is CheckStatus.FAIL and c.alertname]
        rest = [c for c in part.checks if not (c.status is CheckStatus.FAIL and c.alertname)]
        judged = component(part.name, rest) if rest else None
        if judged is not None and judged.status is not HealthStatus.HEALTHY:
            unhealthy = judged.status is HealthStatus.UNHEALTHY
            alertname = UNHEALTHY_ALERT if unhealthy else DEGRADED_ALERT
            failing = [c.name for c in rest if c.status is not CheckStatus.PASS]
            alerts.append(
                RaisedAlert(
                    alertname=alertname,
                    severity=Severity.CRITICAL if unhealthy else Severity.WARNING,
                    component=part.name,
                    summary=f"{part.name} is {judged.status.value} (score {judged.score:g}): "
                    f"not passed: {', '.join(failing)}",
                    labels={"alertname": alertname, "component": part.name},
                )
            )
        alerts += [_check_alert(c, c.alertname) for c in owned if c.alertname]
    return alerts


def _check_alert(check: HealthCheck, alertname: str) -> RaisedAlert:
    labels = {"alertname": alertname, "component": check.component, "system": check.system}
    return RaisedAlert(
        alertname=alertname,
        severity=Severity.WARNING,
        component=check.component,
        summary=describe(check),
        labels=labels,
        threshold_key=check.threshold_key,
    )


def describe(check: HealthCheck) -> str:
    """Say in one line what a check found, against its threshold."""
    unit = f" {check.unit}" if check.unit and not check.unit.startswith("%") else check.unit
    found = "no figure" if check.value is None else f"{check.value:g}{unit}"
    limit = "" if check.threshold is None else f" (threshold {check.threshold:g}{unit})"
    detail = f": {check.detail}" if check.detail else ""
    who = check.system or check.component
    return f"{who} {check.name} {check.status.value}, {found}{limit}{detail}"


def build_report(
    checks: Sequence[HealthCheck],
    *,
    checked_at: datetime,
    duration_s: float,
    counters: HealthCounters | None = None,
) -> HealthReport:
    """Score `checks` into a report: components, overall score and status, raised alerts."""
    parts = components(checks)
    overall = round(sum(p.score for p in parts) / len(parts), 4) if parts else 0.0
    return HealthReport(
        checked_at=checked_at,
        duration_s=round(duration_s, 6),
        score=overall,
        status=HealthStatus.of(overall),
        components=parts,
        alerts=raised_alerts(parts),
        counters=counters or HealthCounters(),
    )
