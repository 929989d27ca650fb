"""A runbook's success record: how its incidents ended, and its resolutions' plans."""

from __future__ import annotations

from tests.fixtures.api import drive
from tests.fixtures.pipeline import load, request, submit
from tests.ops.runbooks.test_incident_audit import diagnosed
from triadops.ops.standards.service import runbook_record
from triadops.runtime import Runtime


async def test_the_record_counts_incidents_and_the_resolutions_runs(runtime: Runtime) -> None:
    book = runtime.runbooks.get("data_inconsistency").runbook
    async with runtime.session(read_only=True) as session:
        empty = await runbook_record(session, book)
    assert empty.incidents == {}
    assert all(r.plans == [] for r in empty.resolutions)

    first, second = await diagnosed(runtime), await diagnosed(runtime)
    procedure = next(r.procedure for r in book.resolutions if r.procedure)
    assert procedure is not None
    op = await submit(runtime, request(procedure=procedure))
    await drive(runtime)
    done = await load(runtime, op.operation_id)

    async with runtime.session(read_only=True) as session:
        found = await runbook_record(session, book)
    assert sum(found.incidents.values()) == 2
    assert set(found.incidents) == {first.status, second.status}
    ran = [r for r in found.resolutions if r.subject == f"procedure:{procedure}"]
    assert ran and all(len(r.plans) == 1 for r in ran)
    plan = ran[0].plans[0]
    assert plan.plan_hash == done.plan_hash
    outcome = (plan.successes, plan.failures)
    assert outcome == ((1, 0) if done.status == "completed" else (0, 1)), done.status_reason
