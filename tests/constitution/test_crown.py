"""The crown: the ledger's tamper evidence, freeze, cancel and emergencies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from tests.fixtures.pipeline import ALICE, BOB, CAROL, load, request, submit
from triadops.constitution import ledger, lifecycle
from triadops.constitution.crown.service import (
    acknowledge,
    cancel_operation,
    freeze,
    unfreeze,
)
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.errors import Conflict, Forbidden
from triadops.domain.events import Freeze
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.storage.tables import LedgerRow, OperationRow
from triadops.worker.claims import drive_once, keep_house


async def verify(rt: Runtime) -> ledger.VerifyReport:
    async with rt.session() as session:
        return await ledger.verify(session)


async def two_operations(rt: Runtime) -> None:
    for _ in range(2):
        await submit(rt, request())
    await drive_once(rt.powers, owner="w")


async def test_intact_ledger_verifies(runtime: Runtime) -> None:
    await two_operations(runtime)
    report = await verify(runtime)
    assert (
        report.ok and report.entries_checked == 2 * 10
    )  # submitted, reviewing, plan, approved, scheduled,
    # executing, step_started, step_succeeded, validating, completed


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert", "reorder", "truncate"])
async def test_tampering_is_found_and_named(runtime: Runtime, tamper: str) -> None:
    await two_operations(runtime)
    async with runtime.session() as session:
        rows = (await session.execute(select(LedgerRow).order_by(LedgerRow.seq))).scalars().all()
        victim = rows[5]
        expected = victim.seq
        if tamper == "edit":
            await session.execute(
                update(LedgerRow).where(LedgerRow.seq == victim.seq).values(actor="mallory")
            )
        elif tamper == "delete":
            await session.execute(delete(LedgerRow).where(LedgerRow.seq == victim.seq))
            expected = victim.seq + 1
        elif tamper == "insert":
            # Make room by shifting the tail up, then forge an entry in the gap.
            forged = {c: getattr(victim, c) for c in LedgerRow.__table__.columns.keys()}  # noqa: SIM118
            tail = [r.seq for r in rows if r.seq >= victim.seq]
            for seq in reversed(tail):
                await session.execute(
                    update(LedgerRow).where(LedgerRow.seq == seq).values(seq=seq + 1)
                )
            await session.execute(insert(LedgerRow).values(**{**forged, "actor": "mallory"}))
        elif tamper == "reorder":
            a, b = rows[5], rows[6]
            swap = {c: getattr(a, c) for c in ("actor", "event", "details", "to_status", "hash")}
            other = {c: getattr(b, c) for c in swap}
            await session.execute(update(LedgerRow).where(LedgerRow.seq == a.seq).values(**other))
            await session.execute(update(LedgerRow).where(LedgerRow.seq == b.seq).values(**swap))
        elif tamper == "truncate":
            await session.execute(delete(LedgerRow).where(LedgerRow.seq == rows[-1].seq))
            expected = rows[-1].seq
        await session.commit()
    report = await verify(runtime)
    assert not report.ok
    assert report.first_bad_seq == expected, report.problem
    assert report.problem


async def test_commit_without_linking_entries_is_refused(runtime: Runtime) -> None:
    async with runtime.session() as session:
        ledger.record(session, Freeze(reason="sneaky"), actor="x")
        with pytest.raises(RuntimeError, match=r"lifecycle\.commit"):
            await session.commit()


async def test_freeze_holds_queued_work_until_the_crown_lifts_it(runtime: Runtime) -> None:
    async with runtime.session() as session:
        with pytest.raises(Forbidden, match="only the crown"):
            await freeze(session, by=ALICE, reason="incident")
        await freeze(session, by=CAROL, reason="incident 42")
        await lifecycle.commit(session)
    op = await submit(runtime, request())
    assert await drive_once(runtime.powers, owner="w") == 0
    assert (await load(runtime, op.operation_id)).status is OperationStatus.SCHEDULED
    async with runtime.session() as session:
        with pytest.raises(Forbidden):
            await unfreeze(session, by=BOB)
        await unfreeze(session, by=CAROL)
        await lifecycle.commit(session)
    await drive_once(runtime.powers, owner="w")
    assert (await load(runtime, op.operation_id)).status is OperationStatus.COMPLETED
    async with runtime.session() as session:
        events = (await session.execute(select(LedgerRow.event))).scalars().all()
    assert "freeze" in events and "unfreeze" in events


async def test_freeze_stops_a_running_operation_after_its_current_step(
    runtime: Runtime, tmp_path: Path
) -> None:
    gate = tmp_path / "home" / "drills" / "marks"
    op = await submit(
        runtime, request([("noop", {"sleep_s": 0.5, "marker": str(gate)}), ("noop", {})])
    )
    import asyncio

    driving = asyncio.create_task(drive_once(runtime.powers, owner="w"))
    while not gate.exists():
        await asyncio.sleep(0.02)
    async with runtime.session() as session:
        await freeze(session, by=CAROL, reason="hold")
        await lifecycle.commit(session)
    await driving
    held = await load(runtime, op.operation_id)
    assert held.status is OperationStatus.EXECUTING
    assert [s.status for s in held.steps] == [StepStatus.SUCCEEDED, StepStatus.PENDING]
    async with runtime.session() as session:
        await unfreeze(session, by=CAROL)
        await lifecycle.commit(session)
    await drive_once(runtime.powers, owner="w")
    assert (await load(runtime, op.operation_id)).status is OperationStatus.COMPLETED


async def test_cancel_before_start_and_while_running(runtime: Runtime, tmp_path: Path) -> None:
    waiting = await submit(runtime, request())
    async with runtime.session() as session:
        with pytest.raises(Forbidden):
            await cancel_operation(session, operation_id=waiting.operation_id, by=BOB)
        await cancel_operation(session, operation_id=waiting.operation_id, by=ALICE)
        await lifecycle.commit(session)
    assert (await load(runtime, waiting.operation_id)).status is OperationStatus.CANCELLED

    gate = tmp_path / "home" / "drills" / "marks"
    running = await submit(
        runtime, request([("noop", {"sleep_s": 0.5, "marker": str(gate)}), ("noop", {})])
    )
    import asyncio

    driving = asyncio.create_task(drive_once(runtime.powers, owner="w"))
    while not gate.exists():
        await asyncio.sleep(0.02)
    async with runtime.session() as session:
        await cancel_operation(session, operation_id=running.operation_id, by=CAROL)
        await lifecycle.commit(session)
    await driving
    op = await load(runtime, running.operation_id)
    assert op.status is OperationStatus.ROLLED_BACK
    assert op.status_reason == "cancelled by carol"
    assert [s.status for s in op.steps] == [StepStatus.ROLLED_BACK, StepStatus.PENDING]
    async with runtime.session() as session:
        with pytest.raises(Conflict):
            await cancel_operation(session, operation_id=running.operation_id, by=CAROL)


async def test_emergency_runs_now_and_owes_an_acknowledgement(runtime: Runtime) -> None:
    req = request(
        operation_type="emergency",
        constitutional_authority="crown",
        requested_by="carol",
        emergency_priority=True,
    )
    op = await submit(runtime, req, who=CAROL)
    assert op.acknowledgement_deadline is not None
    await drive_once(runtime.powers, owner="w")
    assert (await load(runtime, op.operation_id)).status is OperationStatus.COMPLETED
    async with runtime.session() as session:
        await session.execute(
            update(OperationRow)
            .where(OperationRow.id == op.operation_id)
            .values(acknowledgement_deadline=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    await keep_house(runtime.powers)
    await keep_house(runtime.powers)
    async with runtime.session() as session:
        events = (
            (
                await session.execute(
                    select(LedgerRow.event).where(LedgerRow.operation_id == op.operation_id)
                )
            )
            .scalars()
            .all()
        )
        assert events.count("acknowledgement_overdue") == 1
        with pytest.raises(Forbidden, match="cannot acknowledge"):
            await acknowledge(session, operation_id=op.operation_id, by=CAROL)
        from triadops.domain.enums import Role
        from triadops.domain.identity import Identity

        queen = Identity(name="elizabeth", roles=frozenset({Role.CROWN}))
        row = await acknowledge(session, operation_id=op.operation_id, by=queen)
        await lifecycle.commit(session)
        assert row.acknowledged_by == "elizabeth"
