"""Evidence against a change: a critical or emergency alert on a system it changes.

An alert that started on one of the plan's affected systems after the operation began
executing (during execution or validation) fails the verdict, resolved since or not; the
rollback follows as for any failed verdict. An alert already firing when the change began is
not evidence against it: the change may be its cure. "On a system" is the notion change
silences use (`change_silences.names_system`), so what a change may mute and what counts
against it are the same alerts.
"""

from __future__ import annotations

from pydantic import JsonValue

from triadops.checks.base import CheckContext
from triadops.constitution.change_silences import SPARED, SYSTEM_LABEL, names_system
from triadops.domain.operations import CheckResult, Operation
from triadops.storage import change_evidence as store

FINDING = "no_loud_alerts_on_changed_systems"


def changed_systems(operation: Operation) -> list[str]:
    """Return the systems the change works on: the approved plan's, else the request's."""
    systems = operation.plan.affected_systems if operation.plan else []
    return sorted(set(systems or operation.request.affected_systems))


async def loud_alerts_during(ctx: CheckContext) -> CheckResult | None:
    """Judge the alerts fired on the changed systems since execution began; None: no systems."""
    operation = ctx.operation
    systems = changed_systems(operation)
    if not systems:
        return None
    async with ctx.reading() as session:
        since = await store.executing_since(session, operation.operation_id)
        if since is None:
            return None
        fired = await store.alerts_fired_since(
            session,
            label=SYSTEM_LABEL,
            values=systems,
            severities=[s.value for s in SPARED],
            since=since,
        )
    found = [a for a in fired if names_system(a.labels, systems)]
    named = ", ".join(systems)
    if not found:
        return CheckResult(
            name=FINDING,
            passed=True,
            detail=f"no critical or emergency alert on {named} since execution began "
            f"at {since.isoformat()}",
        )
    listed = "; ".join(
        f"alert {a.id} {a.alertname} ({a.severity}) on {a.labels.get(SYSTEM_LABEL)}, "
        f"started {a.starts_at.isoformat()}"
        for a in found
    )
    evidence: list[JsonValue] = [
        {
            "id": a.id,
            "alertname": a.alertname,
            "severity": a.severity,
            "system": str(a.labels.get(SYSTEM_LABEL)),
            "starts_at": a.starts_at.isoformat(),
            "state": a.state,
        }
        for a in found
    ]
    return CheckResult(
        name=FINDING,
        passed=False,
        detail=f"fired on a system under change since execution began: {listed}",
        after={"alerts": evidence, "since": since.isoformat()},
    )
