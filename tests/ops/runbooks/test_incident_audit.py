"""The crown's record of incident reports: ``triad audit verify`` names each report tampered with.

Doors a report could be changed by outside troubleshooting, each tried: its text edited in
the table, its row deleted, a row added that no run stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, update

from triadops.constitution.crown import audit
from triadops.domain.enums import Role
from triadops.domain.identity import Identity
from triadops.domain.runbooks import Incident
from triadops.ops.runbooks.service import troubleshoot
from triadops.runtime import Runtime
from triadops.storage.tables import IncidentRow

ALICE = Identity(name="alice", roles=frozenset({Role.EXECUTIVE}))


async def diagnosed(runtime: Runtime) -> Incident:
    async def never(*_: Any) -> Any:
        raise AssertionError("a diagnosis submits nothing")

    return await troubleshoot(
        runtime.powers,
        runtime.procedures,
        runtime.runbooks.get("data_inconsistency"),
        by=ALICE,
        trigger="manual",
        resolve=False,
        submit=never,
        settle=never,
    )


async def findings(runtime: Runtime) -> list[str]:
    async with runtime.session(read_only=True) as session:
        report = await audit.verify(session)
    return [f"{d.subject}: {d.problem}" for d in report.discrepancies if d.kind == "incident"]


async def test_a_stored_report_is_the_one_the_crown_recorded(runtime: Runtime) -> None:
    incident = await diagnosed(runtime)
    assert await findings(runtime) == []
    async with runtime.engine.begin() as conn:
        edited = incident.model_dump(mode="json") | {"status": "resolved"}
        await conn.execute(
            update(IncidentRow).where(IncidentRow.id == incident.id).values(report=edited)
        )
    assert await findings(runtime) == [
        f"incident {incident.id}: report differs from the one the crown recorded"
    ]


async def test_a_deleted_or_forged_report_is_named(runtime: Runtime) -> None:
    incident = await diagnosed(runtime)
    async with runtime.engine.begin() as conn:
        await conn.execute(delete(IncidentRow).where(IncidentRow.id == incident.id))
        forged = incident.model_copy(update={"id": "inc-0000000000ff"})
        await conn.execute(
            insert(IncidentRow).values(
                id=forged.id,
                runbook=forged.runbook,
                status=forged.status,
                opened_at=forged.opened_at,
                report=forged.model_dump(mode="json"),
            )
        )
    assert set(await findings(runtime)) == {
        f"incident {incident.id}: is recorded in the ledger but not stored",
        "incident inc-0000000000ff: is stored but the ledger does not record it",
    }
