"""A firing alert a runbook answers starts it once, on the monitor's leader, by itself.

Doors through which an automatic run could act beyond a person, each tried: with the default
``diagnose`` nothing is submitted; with ``resolve`` the fix is requested by ``triad:runbooks``
(an executive that can approve nothing), so it meets the same review as any request; and an
alert still firing on the next passes never starts a second run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from triadops.domain.alerts import AlertIn
from triadops.domain.runbooks import Incident
from triadops.ops.monitor import Monitor
from triadops.runtime import Runtime
from triadops.storage.tables import AlertRow, IncidentRow, OperationRow


async def fire(runtime: Runtime, alertname: str) -> int:
    await runtime.raise_alerts([AlertIn(labels={"alertname": alertname}, severity="warning")])
    async with runtime.session(read_only=True) as session:
        found = await session.scalar(select(AlertRow.id).where(AlertRow.alertname == alertname))
    assert found is not None
    return int(found)


async def incidents(runtime: Runtime) -> list[IncidentRow]:
    async with runtime.session(read_only=True) as session:
        return list((await session.scalars(select(IncidentRow))).all())


async def settled(monitor: Monitor) -> None:
    await asyncio.gather(*monitor.runbooks.running.values())


async def test_a_firing_alert_is_diagnosed_once_and_nothing_is_submitted(
    runtime: Runtime,
) -> None:
    alert_id = await fire(runtime, "TriadRecoveryTestFailed")
    await fire(runtime, "SomethingNoRunbookAnswers")
    monitor = Monitor(runtime.powers, owner="w1", collectors=[])
    first = await monitor.tick()
    assert first.troubleshooting == [alert_id]
    await settled(monitor)
    for _ in range(3):  # still firing: never a second run
        again = await monitor.tick()
        assert again.troubleshooting == []
        await settled(monitor)
    [row] = await incidents(runtime)
    incident = Incident.model_validate(row.report)
    assert (row.alert_id, incident.runbook) == (alert_id, "data_inconsistency")
    assert incident.trigger == f"alert:{alert_id} TriadRecoveryTestFailed"
    assert incident.opened_by == "triad:runbooks"
    assert incident.status in ("diagnosed", "no_symptoms")
    async with runtime.session(read_only=True) as session:
        assert (await session.scalars(select(OperationRow.id))).all() == []


async def test_resolving_by_itself_is_requested_by_triad_runbooks_like_any_request(
    runtime: Runtime,
) -> None:
    settings: Any = runtime.settings.runbooks
    settings.on_alert, settings.resolve_wait_s = "resolve", 0.5
    await fire(runtime, "TriadBackupFailed")
    monitor = Monitor(runtime.powers, owner="w1", collectors=[])
    await monitor.tick()
    await settled(monitor)
    [row] = await incidents(runtime)
    incident = Incident.model_validate(row.report)
    assert incident.chosen is not None and incident.chosen.operation_id is not None
    async with runtime.session(read_only=True) as session:
        op = await session.get(OperationRow, incident.chosen.operation_id)
    assert op is not None and op.requested_by == "triad:runbooks"
    # Nobody drove it in its half second: the incident says it waits, not that it worked.
    assert incident.status == "resolving"


async def test_off_starts_nothing(runtime: Runtime) -> None:
    runtime.settings.runbooks.on_alert = "off"
    await fire(runtime, "TriadBackupFailed")
    monitor = Monitor(runtime.powers, owner="w1", collectors=[])
    assert (await monitor.tick()).troubleshooting == []
    assert await incidents(runtime) == []
