from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from triadops.checks.base import CheckContext
from triadops.checks.builtin import builtin_checks
from triadops.checks.compliance import ConstitutionalComplianceVerified
from triadops.checks.database import NoDataLoss, PerformanceWithinBaseline
from triadops.checks.functionality import SystemFunctionalityMaintained
from triadops.checks.registry import CheckRegistry
from triadops.domain.chain import link_hash
from triadops.domain.enums import Authority, OperationStatus, OperationType, StepStatus
from triadops.domain.operations import (
    Approval,
    Operation,
    OperationRequest,
    StepRecord,
    StepSpec,
    utcnow,
)
from triadops.runtime import Runtime
from triadops.storage.baselines import db_latency_name, get_baseline, set_baseline
from triadops.storage.engine import create_engine
from triadops.storage.ledger import append_links, entry_body, lock_head
from triadops.storage.tables import AuditLogRow, LedgerRow
from triadops.storage.targets import DatabaseTargets

REQUESTER = "alice"


def step(index: int = 0, *, output: dict[str, Any] | None = None, ended: bool = True) -> StepRecord:
    now = utcnow()
    return StepRecord(
        index=index,
        action="database.purge_audit_logs",
        params={},
        status=StepStatus.SUCCEEDED,
        attempts=1,
        started_at=now,
        ended_at=now if ended else None,
        output=output or {},
    )


def operation(
    *, steps: list[StepRecord] | None = None, approvers: tuple[str, ...] = ("bob",)
) -> Operation:
    now = utcnow()
    return Operation(
        operation_id="op-check",
        status=OperationStatus.VALIDATING,
        request=OperationRequest(
            operation_id="op-check",
            operation_type=OperationType.MAINTENANCE,
            constitutional_authority=Authority.EXECUTIVE,
            description="purge old audit logs",
            requested_by=REQUESTER,
            steps=[StepSpec(action="database.purge_audit_logs")],
        ),
        plan_hash="p" * 64,
        steps=steps if steps is not None else [step()],
        approvals=[
            Approval(approver=a, authority=Authority.LEGISLATIVE, plan_hash="p" * 64, at=now)
            for a in approvers
        ],
        created_at=now,
        updated_at=now,
    )


def context(runtime: Runtime, op: Operation | None = None, **changes: Any) -> CheckContext:
    fields: dict[str, Any] = {
        "settings": runtime.settings,
        "databases": runtime.databases,
        "own": runtime.engine,
        "operation": op or operation(),
    }
    return CheckContext(**(fields | changes))


async def add_audit_logs(runtime: Runtime, count: int) -> None:
    async with runtime.session() as session:
        session.add_all(
            AuditLogRow(created_at=utcnow(), actor="t", action="GET /") for _ in range(count)
        )
        await session.commit()


async def append_ledger(runtime: Runtime, operation_id: str, events: int) -> None:
    """Append real, correctly hashed links, as the crown would."""
    async with runtime.session() as session:
        seq, prev = await lock_head(session)
        links = []
        for _ in range(events):
            seq += 1
            row = LedgerRow(
                seq=seq,
                at=utcnow(),
                actor="crown",
                event="transition",
                operation_id=operation_id,
                from_status="a",
                to_status="b",
                details={"n": seq},
            )
            digest = link_hash(prev, entry_body(row))
            links.append(entry_body(row) | {"at": row.at, "prev_hash": prev, "hash": digest})
            prev = digest
        await append_links(session, links)
        await session.commit()


def test_the_four_criteria_are_registered() -> None:
    assert CheckRegistry(builtin_checks()).names() == [
        "constitutional_compliance_verified",
        "no_data_loss",
        "performance_within_baseline",
        "system_functionality_maintained",
    ]


async def test_no_data_loss_fails_on_undeclared_deletions(runtime: Runtime) -> None:
    await add_audit_logs(runtime, 10)
    check = NoDataLoss()
    before = await check.measure(context(runtime))
    async with runtime.session() as session:
        await session.execute(delete(AuditLogRow).where(AuditLogRow.id <= 3))
        await session.commit()
    after = await check.measure(context(runtime))

    silent = check.judge(context(runtime), before, after)
    assert not silent.passed
    assert silent.detail == "triad.audit_logs lost 3 rows, 0 declared"

    declared = operation(steps=[step(output={"deleted_rows": {"audit_logs": 3}})])
    assert check.judge(context(runtime, declared), before, after).passed
    too_few = operation(steps=[step(output={"deleted_rows": {"audit_logs": 2}})])
    assert not check.judge(context(runtime, too_few), before, after).passed


async def test_no_data_loss_never_accepts_a_shrinking_ledger(runtime: Runtime) -> None:
    await append_ledger(runtime, "op-check", 3)
    check = NoDataLoss()
    before = await check.measure(context(runtime))
    async with runtime.session() as session:
        await session.execute(delete(LedgerRow).where(LedgerRow.seq == 2))
        await session.commit()
    after = await check.measure(context(runtime))
    excused = operation(steps=[step(output={"deleted_rows": {"ledger": 1}})])
    result = check.judge(context(runtime, excused), before, after)
    assert not result.passed
    assert result.detail == (
        "the ledger table ledger lost 1 rows; the ledger shrank from 3 to 2 entries"
    )
    elsewhere = context(runtime, excused, database_targets=["other"])
    only_ledger = check.judge(
        elsewhere, {**before, "rows": {"other": {}}}, {**after, "rows": {"other": {}}}
    )
    assert only_ledger.detail == "the ledger shrank from 3 to 2 entries"


async def test_no_data_loss_passes_when_rows_only_grow(runtime: Runtime) -> None:
    check = NoDataLoss()
    before = await check.measure(context(runtime))
    await add_audit_logs(runtime, 2)
    result = check.judge(context(runtime), before, await check.measure(context(runtime)))
    assert result.passed, result.detail
    assert "beyond the 0 deletions" in result.detail


async def test_performance_reads_the_stored_baseline(runtime: Runtime) -> None:
    check = PerformanceWithinBaseline()
    before = await check.measure(context(runtime))
    assert before["baseline_s"] == {"triad": None}
    async with runtime.session() as session:
        await set_baseline(session, name=db_latency_name("triad"), value=1e-9, unit="s")
        await session.commit()
    async with runtime.session() as session:
        row = await get_baseline(session, name="db_latency_s:triad")
        assert row is not None and row.unit == "s"
    after = await check.measure(context(runtime))
    assert after["baseline_s"] == {"triad": 1e-9}
    latency = after["latency_s"]
    assert isinstance(latency, dict) and 0 < float(str(latency["triad"])) < 1
    # A real round trip is far below the 1 ms floor times the tolerance.
    result = check.judge(context(runtime), before, after)
    assert result.passed, result.detail
    assert result.detail.startswith("within baseline: triad ")


async def test_performance_fails_when_latency_exceeds_the_limit(runtime: Runtime) -> None:
    check = PerformanceWithinBaseline()
    ctx = context(runtime)
    measured = await check.measure(ctx)
    # Pin the figures: a loaded test machine must not move the limit under the assertion.
    before = {**measured, "latency_s": {"triad": 0.0004}}
    slow = {**measured, "latency_s": {"triad": 0.02}}  # 20 ms: what a degraded database shows
    result = check.judge(ctx, before, slow)
    assert not result.passed
    assert result.detail == "too slow: triad 20.00 ms against a limit of 3.00 ms"
    lenient = runtime.settings.model_copy(update={"performance_tolerance": 50.0})
    assert check.judge(context(runtime, settings=lenient), before, slow).passed


async def test_performance_fails_when_a_target_does_not_answer(runtime: Runtime) -> None:
    databases = DatabaseTargets(
        runtime.engine, {"down": "postgresql+asyncpg://postgres@127.0.0.1:9/none"}
    )
    ctx = context(runtime, databases=databases, database_targets=["triad", "down"])
    check = PerformanceWithinBaseline()
    try:
        result = check.judge(ctx, await check.measure(ctx), await check.measure(ctx))
    finally:
        await databases.dispose()
    assert not result.passed
    assert result.detail.startswith("too slow: down did not answer: ")


@pytest.fixture
async def scratch(runtime: Runtime, tmp_path: Path) -> AsyncIterator[CheckContext]:
    """A check context over triad and ``scratch``, a SQLite file with one table."""
    path = tmp_path / "scratch.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
        await conn.execute(text("INSERT INTO t (body) VALUES ('a'), ('b')"))
    await engine.dispose()
    databases = DatabaseTargets(runtime.engine, {"scratch": f"sqlite+aiosqlite:///{path}"})
    try:
        yield context(runtime, databases=databases, database_targets=["triad", "scratch"])
    finally:
        await databases.dispose()


async def test_functionality_holds_on_a_healthy_system(scratch: CheckContext) -> None:
    check = SystemFunctionalityMaintained()
    before = await check.measure(scratch)
    result = check.judge(scratch, before, await check.measure(scratch))
    assert result.passed, result.detail
    assert result.detail.startswith("all 2 databases answer")


async def test_functionality_fails_when_a_database_file_is_removed(
    scratch: CheckContext, tmp_path: Path
) -> None:
    check = SystemFunctionalityMaintained()
    before = await check.measure(scratch)
    (tmp_path / "scratch.db").unlink()
    result = check.judge(scratch, before, await check.measure(scratch))
    assert not result.passed
    missing = tmp_path / "scratch.db"
    assert result.detail == f"broken: database scratch: database file {missing} is missing"


async def test_functionality_fails_when_a_database_file_is_corrupted(
    scratch: CheckContext, tmp_path: Path
) -> None:
    check = SystemFunctionalityMaintained()
    before = await check.measure(scratch)
    await scratch.databases.dispose()
    path = tmp_path / "scratch.db"
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    with path.open("r+b") as file:
        file.write(b"this is no longer a database header")
    result = check.judge(scratch, before, await check.measure(scratch))
    assert not result.passed
    assert result.detail.startswith("broken: database scratch: ")
    assert "not a database" in result.detail


async def test_functionality_fails_when_a_used_folder_goes_away(scratch: CheckContext) -> None:
    check = SystemFunctionalityMaintained()
    scratch.settings.log_dir.mkdir(exist_ok=True)
    before = await check.measure(scratch)
    os.rmdir(scratch.settings.log_dir)
    result = check.judge(scratch, before, await check.measure(scratch))
    assert not result.passed
    assert result.detail == f"broken: log folder {scratch.settings.log_dir} is missing"


async def test_compliance_passes_a_clean_operation(runtime: Runtime) -> None:
    await append_ledger(runtime, "op-other", 1)
    await append_ledger(runtime, "op-check", 2)
    await append_ledger(runtime, "op-other", 1)
    await append_ledger(runtime, "op-check", 1)
    check = ConstitutionalComplianceVerified()
    ctx = context(runtime)
    result = check.judge(ctx, await check.measure(ctx), await check.measure(ctx))
    assert result.passed, result.detail
    assert result.detail.startswith("3 ledger entries verify")


async def test_compliance_fails_on_a_self_approval(runtime: Runtime) -> None:
    await append_ledger(runtime, "op-check", 2)
    check = ConstitutionalComplianceVerified()
    ctx = context(runtime, operation(approvers=("bob", REQUESTER)))
    result = check.judge(ctx, await check.measure(ctx), await check.measure(ctx))
    assert not result.passed
    assert result.detail == "alice approved their own request as legislative"


async def test_compliance_ignores_approvals_of_an_older_plan(runtime: Runtime) -> None:
    await append_ledger(runtime, "op-check", 1)
    op = operation(approvers=(REQUESTER,))
    op.approvals[0] = op.approvals[0].model_copy(update={"plan_hash": "old"})
    check = ConstitutionalComplianceVerified()
    ctx = context(runtime, op)
    assert check.judge(ctx, {}, await check.measure(ctx)).passed


async def test_compliance_fails_on_an_edited_ledger_entry(runtime: Runtime) -> None:
    await append_ledger(runtime, "op-check", 3)
    async with runtime.session() as session:
        await session.execute(update(LedgerRow).where(LedgerRow.seq == 2).values(actor="mallory"))
        await session.commit()
    check = ConstitutionalComplianceVerified()
    ctx = context(runtime)
    result = check.judge(ctx, {}, await check.measure(ctx))
    assert not result.passed
    assert result.detail == "ledger entry 2: its hash does not match its content"


async def test_compliance_fails_without_ledger_or_step_times(runtime: Runtime) -> None:
    check = ConstitutionalComplianceVerified()
    ctx = context(runtime, operation(steps=[step(0), step(1, ended=False)]))
    result = check.judge(ctx, {}, await check.measure(ctx))
    assert not result.passed
    assert result.detail == (
        "the ledger holds no entries for op-check; "
        "step 1 (database.purge_audit_logs) has no end time"
    )


async def test_measurements_survive_a_json_round_trip(runtime: Runtime) -> None:
    # The before-measurement is stored in the operation's JSON column until the judge runs.
    await append_ledger(runtime, "op-check", 1)
    ctx = context(runtime)
    for check in builtin_checks():
        measured = json.loads(json.dumps(await check.measure(ctx)))
        result = check.judge(ctx, measured, measured)
        assert result.name == check.name
        assert result.passed, result.detail
