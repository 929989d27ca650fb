"""A loud alert on a system under change is evidence: the verdict fails and names it.

The SRE's case: an emergency on the system being changed stops the change. Each case runs a
step that holds until the test has raised its alert, through the worker's journey.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.fixtures.api import drive
from tests.fixtures.fakes import GatedAction, ProbedAction
from tests.fixtures.pipeline import load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.judicial.evidence import FINDING
from triadops.constitution.ledger import audit
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.operations import CheckResult, Operation, utcnow
from triadops.ops.alerts import service
from triadops.runtime import Runtime
from triadops.storage import alerts as alert_store


async def raise_alert(rt: Runtime, system: str, severity: Severity) -> int:
    """Post one alert on `system` as a monitoring source would; return its id."""
    labels = {"alertname": f"Host{severity.value.title()}", "system": system}
    async with rt.session() as session:
        await service.ingest(
            session,
            [AlertIn(labels=labels, severity=severity)],
            source="api",
            now=utcnow(),
            settings=rt.settings.alerts,
            by="prometheus",
        )
        await lifecycle.commit(session)
        [row] = await alert_store.unresolved_alerts(session, states=("firing", "silenced"))
    return row.id


def evidence(op: Operation) -> CheckResult:
    assert op.validation_result is not None
    [finding] = [f for f in op.validation_result.findings if f.name == FINDING]
    return finding


async def run_with_alert(
    rt: Runtime,
    *,
    system: str,
    severity: Severity,
    action: str = "test.gated",
    then: tuple[tuple[str, dict[str, object]], ...] = (),
) -> tuple[Operation, int]:
    """Run a change on ``db`` and raise the alert while its first step runs."""
    gate = GatedAction() if action == "test.gated" else ProbedAction()
    rt.actions.register(gate)
    steps = [(action, {}), *then]
    req = request(steps, affected_systems=["db"], rollback_plan="by hand")
    await submit(rt, req)
    driving = asyncio.create_task(drive(rt))
    await gate.running.wait()
    alert_id = await raise_alert(rt, system, severity)
    gate.release.set()
    await driving
    return await load(rt, req.operation_id), alert_id


async def verified(rt: Runtime) -> None:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact, report.problem
    assert report.discrepancies == []


@pytest.mark.parametrize("severity", [Severity.EMERGENCY, Severity.CRITICAL])
async def test_a_loud_alert_on_the_changed_system_fails_the_change_and_rolls_it_back(
    runtime: Runtime, severity: Severity
) -> None:
    op, alert_id = await run_with_alert(runtime, system="db", severity=severity)

    assert op.status is OperationStatus.ROLLED_BACK
    assert op.steps[0].status is StepStatus.ROLLED_BACK
    assert FINDING in (op.status_reason or "")
    found = evidence(op)
    assert not found.passed
    name = f"Host{severity.value.title()}"
    assert f"alert {alert_id} {name} ({severity.value}) on db" in found.detail
    assert found.after["alerts"] == [
        {
            "id": alert_id,
            "alertname": name,
            "severity": severity.value,
            "system": "db",
            "starts_at": found.after["alerts"][0]["starts_at"],  # type: ignore[index,call-overload]
            "state": "firing",
        }
    ]
    await verified(runtime)


@pytest.mark.parametrize(
    ("system", "severity"),
    [("db", Severity.WARNING), ("web", Severity.EMERGENCY)],
    ids=["a-warning-on-the-system", "an-emergency-elsewhere"],
)
async def test_a_warning_or_an_alert_elsewhere_does_not_fail_the_change(
    runtime: Runtime, system: str, severity: Severity
) -> None:
    op, _ = await run_with_alert(runtime, system=system, severity=severity)
    assert op.status is OperationStatus.COMPLETED
    assert evidence(op).passed


async def test_an_emergency_already_firing_when_the_change_began_is_not_held_against_it(
    runtime: Runtime,
) -> None:
    # The change may be its cure: only what started while the change ran counts.
    await raise_alert(runtime, "db", Severity.EMERGENCY)
    req = request([("noop", {})], affected_systems=["db"])
    await submit(runtime, req)
    await drive(runtime)
    op = await load(runtime, req.operation_id)
    assert op.status is OperationStatus.COMPLETED
    assert evidence(op).passed


async def test_a_change_that_cannot_be_undone_is_failed_and_left_to_a_person(
    runtime: Runtime,
) -> None:
    op, alert_id = await run_with_alert(
        runtime, system="db", severity=Severity.EMERGENCY, action="test.probed"
    )
    assert op.status is not OperationStatus.COMPLETED
    assert op.validation_result is not None
    assert not evidence(op).passed
    assert str(alert_id) in evidence(op).detail
    assert any(
        "step 0 (test.probed) cannot be undone" in r for r in op.validation_result.recommendations
    )


async def test_an_emergency_stops_the_change_before_its_next_step(runtime: Runtime) -> None:
    op, alert_id = await run_with_alert(
        runtime, system="db", severity=Severity.EMERGENCY, then=(("noop", {}), ("noop", {}))
    )
    assert op.status is OperationStatus.ROLLED_BACK
    assert [s.status for s in op.steps] == [
        StepStatus.ROLLED_BACK,
        StepStatus.PENDING,
        StepStatus.PENDING,
    ]
    assert op.status_reason == f"stopped before step 1: {FINDING}"
    assert f"alert {alert_id} HostEmergency (emergency) on db" in evidence(op).detail
    await verified(runtime)
