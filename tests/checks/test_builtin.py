from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, text, update

from triadops.checks.base import CheckContext
from triadops.checks.builtin import builtin_checks
from triadops.checks.compliance import ConstitutionalComplianceVerified
from triadops.checks.database import NoDataLoss
from triadops.checks.functionality import SystemFunctionalityMaintained
from triadops.checks.measurements import number, section
from triadops.checks.performance import (
    CLIP,
    LEARNING_RATE,
    MIN_SPREAD_S,
    SAMPLES,
    PerformanceWithinBaseline,
    learn,
)
from triadops.checks.registry import CheckRegistry
from triadops.domain.chain import link_hash
from triadops.domain.enums import Authority, OperationStatus, OperationType, StepStatus
from triadops.domain.operations import (
    Approval,
    Operation,
    OperationRequest,
    Plan,
    PlannedStep,
    StepPreview,
    StepRecord,
    StepSpec,
    utcnow,
)
from triadops.runtime import Runtime
from triadops.storage import maintenance
from triadops.storage.baselines import (
    db_latency_name,
    db_latency_spread_name,
    get_baseline,
    read_baselines,
    refresh_baselines,
    set_baseline,
)
from triadops.storage.engine import create_engine
from triadops.storage.ledger import append_links, entry_body, lock_head
from triadops.storage.tables import AuditLogRow, LedgerHeadRow, LedgerRow
from triadops.storage.targets import DatabaseTargets

REQUESTER = "alice"
PURGE = {
    "target": "triad",
    "table": "audit_logs",
    "column": "created_at",
    "older_than_days": 30,
    "batch_size": 1000,
}


def planned(action: str = "database.purge_audit_logs", **params: Any) -> PlannedStep:
    """A reviewed step, by default the purge of triad's audit log older than 30 days."""
    params = params or dict(PURGE)
    target, table = params.get("target", "triad"), params.get("table")
    return PlannedStep(
        index=0,
        action=action,
        params=params,
        risk="medium",
        reversible=False,
        idempotent=True,
        timeout_s=3600.0,
        preview=StepPreview(summary="test", touches=[f"{target}.{table}"] if table else []),
    )


def step(
    index: int = 0,
    *,
    output: dict[str, Any] | None = None,
    ended: bool = True,
    attempts: int = 1,
) -> StepRecord:
    now = utcnow()
    return StepRecord(
        index=index,
        action="database.purge_audit_logs",
        params=dict(PURGE),
        status=StepStatus.SUCCEEDED,
        attempts=attempts,
        started_at=now,
        ended_at=now if ended else None,
        output=output or {},
    )


def operation(
    *,
    steps: list[StepRecord] | None = None,
    approvers: tuple[str, ...] = ("bob",),
    plan: list[PlannedStep] | None = None,
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
        plan=Plan(
            steps=plan if plan is not None else [planned()],
            affected_systems=[],
            rollback_plan=None,
            validation_criteria=[],
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


async def add_audit_logs(runtime: Runtime, count: int, age: timedelta = timedelta(0)) -> None:
    async with runtime.session() as session:
        session.add_all(
            AuditLogRow(created_at=utcnow() - age, actor="t", action="GET /") for _ in range(count)
        )
        await session.commit()


async def ledger_hash(runtime: Runtime, seq: int) -> str:
    async with runtime.session(read_only=True) as session:
        row = await session.get(LedgerRow, seq)
        assert row is not None
        return row.hash


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


def test_the_five_criteria_are_registered() -> None:
    assert CheckRegistry(builtin_checks()).names() == [
        "agents_healthy",
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
    assert silent.detail == "triad.audit_logs lost 3 rows, 0 declared, 0 were due"

    declared = operation(steps=[step(output={"deleted_rows": {"audit_logs": 3}})])
    assert check.judge(context(runtime, declared), before, after).passed
    too_few = operation(steps=[step(output={"deleted_rows": {"audit_logs": 2}})])
    assert not check.judge(context(runtime, too_few), before, after).passed


async def test_no_data_loss_accepts_a_resumed_purge(runtime: Runtime) -> None:
    # The first attempt deleted 4 old rows and was killed; the second deleted the other
    # 2 and declares only those. Every one of the 6 was due: no loss.
    await add_audit_logs(runtime, 6, age=timedelta(days=40))
    await add_audit_logs(runtime, 5)
    check = NoDataLoss()
    before = await check.measure(context(runtime))
    assert before["due"] == {"triad": {"audit_logs": 6}}
    old = utcnow() - timedelta(days=30)
    async with runtime.session() as session:
        await session.execute(delete(AuditLogRow).where(AuditLogRow.created_at < old))
        await session.commit()
    after = await check.measure(context(runtime))
    resumed = operation(steps=[step(output={"deleted_rows": {"audit_logs": 2}}, attempts=2)])
    result = check.judge(context(runtime, resumed), before, after)
    assert result.passed, result.detail
    assert result.detail.startswith("no table of triad.audit_logs lost rows beyond")


async def test_no_data_loss_accepts_another_purge_of_the_same_table(runtime: Runtime) -> None:
    # Another operation purges the same audit log at the same time: this one deleted 1 of
    # the 5 due rows, the other the rest. Both took only what was due.
    await add_audit_logs(runtime, 5, age=timedelta(days=31))
    await add_audit_logs(runtime, 5)
    check = NoDataLoss()
    before = await check.measure(context(runtime))
    old = utcnow() - timedelta(days=30)
    async with runtime.session() as session:
        await session.execute(delete(AuditLogRow).where(AuditLogRow.created_at < old))
        await session.commit()
    ours = operation(steps=[step(output={"deleted_rows": {"audit_logs": 1}})])
    result = check.judge(context(runtime, ours), before, await check.measure(context(runtime)))
    assert result.passed, result.detail
    # Rows that were not due are still guarded against, concurrent purge or not.
    async with runtime.session() as session:
        await session.execute(delete(AuditLogRow).where(AuditLogRow.id == 7))
        await session.commit()
    result = check.judge(context(runtime, ours), before, await check.measure(context(runtime)))
    assert not result.passed
    assert result.detail == "triad.audit_logs lost 6 rows, 1 declared, 5 were due"


async def test_no_data_loss_counts_no_governance_table(runtime: Runtime) -> None:
    # A vacuum of triad's own database touches every table; other operations change the
    # governance tables all the time, so none of them is counted; nor is the audit log,
    # which only a purge that names it answers for.
    vacuum = planned("database.vacuum_analyze", target="triad")
    touched = ["triad.operations", "triad.steps", "triad.ledger", "triad.audit_logs"]
    vacuum.preview.touches = touched
    ctx = context(runtime, operation(plan=[vacuum], steps=[]))
    check = NoDataLoss()
    before = await check.measure(ctx)
    assert before["rows"] == {} and before["errors"] == {}
    await add_audit_logs(runtime, 3)
    result = check.judge(ctx, before, await check.measure(ctx))
    assert result.passed, result.detail
    assert result.detail.startswith("the plan touches no table this check counts; ")


async def test_no_data_loss_never_accepts_a_shrinking_ledger(runtime: Runtime) -> None:
    await append_ledger(runtime, "op-check", 3)
    check = NoDataLoss()
    before = await check.measure(context(runtime))
    assert before["ledger_head"] == {"seq": 3, "hash": await ledger_hash(runtime, 3)}
    # Cut the tail and move the head back, as a truncation would.
    async with runtime.session() as session:
        await session.execute(delete(LedgerRow).where(LedgerRow.seq == 3))
        await session.execute(
            update(LedgerHeadRow).values(seq=2, hash=await ledger_hash(runtime, 2))
        )
        await session.commit()
    after = await check.measure(context(runtime))
    excused = operation(steps=[step(output={"deleted_rows": {"ledger": 1}})])
    result = check.judge(context(runtime, excused), before, after)
    assert not result.passed
    assert result.detail == "the ledger shrank from 3 to 2 entries"


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


def timings(
    median: float,
    spread: float = 0.0,
    baseline: float | None = None,
    baseline_spread: float = 0.0,
    fastest: float | None = None,
) -> dict[str, Any]:
    """A pinned measurement of triad's round trips: a loaded machine must not move it."""
    return {
        "latency_s": {"triad": median},
        "fastest_s": {"triad": median - spread if fastest is None else fastest},
        "spread_s": {"triad": spread},
        "baseline_s": {"triad": baseline},
        "baseline_spread_s": {"triad": None if baseline is None else baseline_spread},
        "samples": 7,
        "errors": {},
    }


async def test_performance_fails_when_latency_exceeds_the_limit(runtime: Runtime) -> None:
    check = PerformanceWithinBaseline()
    ctx = context(runtime)
    # 20 ms with little spread: what a degraded database shows, not a noisy moment.
    result = check.judge(ctx, timings(0.0004, 2e-5), timings(0.02, 1e-4))
    assert not result.passed
    # The reference plus the 1 ms floor is the widest of the three limits here.
    assert result.detail == "too slow: triad 20.00 ms (fastest 19.90 ms) against a limit of 1.40 ms"
    lenient = runtime.settings.model_copy(update={"performance_tolerance": 60.0})
    assert check.judge(context(runtime, settings=lenient), timings(0.0004), timings(0.02)).passed


async def test_performance_never_fails_a_sub_millisecond_difference(runtime: Runtime) -> None:
    check = PerformanceWithinBaseline()
    # Eighteen times the baseline, but under a millisecond more: noise, not a regression.
    result = check.judge(
        context(runtime), timings(5e-5, baseline=5e-5), timings(9e-4, baseline=5e-5)
    )
    assert result.passed, result.detail
    assert result.detail == "within baseline: triad 0.90 ms against a limit of 1.05 ms"


async def test_performance_widens_the_limit_by_the_measured_spread(runtime: Runtime) -> None:
    check = PerformanceWithinBaseline()
    ctx = context(runtime)
    before = timings(4e-4, 2e-5, baseline=3e-4, baseline_spread=2e-5)
    # Samples that scatter by 1.5 ms say the moment was noisy: 5 ms is within 4 spreads.
    noisy = check.judge(ctx, before, timings(5e-3, 1.5e-3))
    assert noisy.passed, noisy.detail
    assert noisy.detail == "within baseline: triad 5.00 ms against a limit of 6.40 ms"
    # The same median from tightly grouped samples is a real slowdown.
    steady = check.judge(ctx, before, timings(5e-3, 1e-4))
    assert steady.detail == "too slow: triad 5.00 ms (fastest 4.90 ms) against a limit of 1.40 ms"
    # A baseline that has always scattered widens the limit too.
    scattered = timings(4e-4, 2e-5, baseline=3e-4, baseline_spread=2e-3)
    assert check.judge(ctx, scattered, timings(5e-3, 1e-4)).passed


async def test_performance_is_not_blamed_for_a_database_already_slow(runtime: Runtime) -> None:
    check = PerformanceWithinBaseline()
    # Load from elsewhere made every round trip slow before the operation started.
    before = timings(4e-3, 1e-4, baseline=2e-4, baseline_spread=2e-5)
    result = check.judge(context(runtime), before, timings(9e-3, 1e-4, baseline=2e-4))
    assert result.passed, result.detail
    assert result.detail == "within baseline: triad 9.00 ms against a limit of 12.00 ms"


async def test_performance_needs_even_the_fastest_round_trip_to_be_slow(
    runtime: Runtime,
) -> None:
    check = PerformanceWithinBaseline()
    ctx = context(runtime)
    before = timings(4e-4, 2e-5, baseline=3e-4, baseline_spread=2e-5)
    # Most round trips waited behind other work, but one came back in 0.5 ms: the
    # database still answers that fast, so the slowness was ours, not its.
    busy = check.judge(ctx, before, timings(5e-3, 1e-4, fastest=5e-4))
    assert busy.passed, busy.detail
    assert busy.detail == (
        "within baseline: triad 5.00 ms against a limit of 1.40 ms, but its fastest round "
        "trip took 0.50 ms: a busy moment, not a slower database"
    )
    assert not check.judge(ctx, before, timings(5e-3, 1e-4, fastest=1.5e-3)).passed


@asynccontextmanager
async def busy_loop(block_s: float, *, runtime: Runtime, round_trips: int) -> AsyncIterator[None]:
    """Keep this event loop busy, as a worker validating a batch does: every callback
    waits `block_s` behind the others' work, until `round_trips` ``SELECT 1`` have been
    sent to triad's database."""
    sent = 0

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal sent
        sent += statement == "SELECT 1"

    async def hog() -> None:
        while sent < round_trips:
            time.sleep(block_s)  # blocks the loop, as CPU-bound work would
            await asyncio.sleep(0)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
    task = asyncio.create_task(hog())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)


@contextmanager
def slower_database(runtime: Runtime, by_s: float) -> Iterator[None]:
    """Make every statement sent to triad's database take `by_s` longer."""

    def wait(*_: Any) -> None:
        time.sleep(by_s)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", wait)
    try:
        yield
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", wait)


async def test_performance_waits_out_a_busy_moment(runtime: Runtime) -> None:
    # The defect: while a worker validated a batch of 64 operations, its own event loop
    # was busy with the others' measurements and every round trip of one burst came back
    # slow, fastest included: healthy operations were rolled back.
    check = PerformanceWithinBaseline()
    ctx = context(runtime)
    before = await check.measure(ctx)  # a calm moment: it also stores the baseline
    # Busy for the whole first burst (one untimed round trip, then the samples), each wait
    # well past the limit this machine's calm moment sets: a loaded machine's wide spread
    # cannot absorb it.
    block_s = max(0.01, 2 * check.limit(ctx, "triad", before, before))
    async with busy_loop(block_s, runtime=runtime, round_trips=SAMPLES + 2):
        after = await check.measure(ctx)
    result = check.judge(ctx, before, after)
    assert result.passed, result.detail
    assert number(section(after["bursts"])["triad"]) > 1
    assert section(before["bursts"]) == {"triad": 1}


async def test_performance_fails_a_slowdown_that_lasts(runtime: Runtime) -> None:
    check = PerformanceWithinBaseline()
    # A short check budget ends the further bursts early; the slowdown outlasts them all.
    ctx = context(runtime, settings=runtime.settings.model_copy(update={"check_timeout_s": 2.0}))
    # Pinned, so a loaded machine cannot widen the limit: 0.5 ms, plus the 1 ms floor.
    async with runtime.session() as session:
        await set_baseline(session, name=db_latency_name("triad"), value=5e-4, unit="s")
        await set_baseline(session, name=db_latency_spread_name("triad"), value=2e-5, unit="s")
        await session.commit()
    before = timings(5e-4, 2e-5, baseline=5e-4, baseline_spread=2e-5)
    with slower_database(runtime, 0.02):
        after = await check.measure(ctx)
    result = check.judge(ctx, before, after)
    assert not result.passed
    bursts = int(number(section(after["bursts"])["triad"]))
    assert bursts > 1
    assert re.fullmatch(
        rf"too slow: triad [0-9.]+ ms \(fastest [0-9.]+ ms, the best of {bursts} bursts\) "
        r"against a limit of [0-9.]+ ms",
        result.detail,
    ), result.detail


def test_the_baseline_learns_slowly_and_resists_outliers() -> None:
    centre, spread = learn(None, 3e-4, 1e-6)
    assert (centre, spread) == (3e-4, MIN_SPREAD_S)
    # One burst 100 times slower moves the centre by at most a fifth of three spreads.
    burst = learn((centre, spread), 3e-2, 1e-3)
    assert burst[0] == pytest.approx(centre + LEARNING_RATE * CLIP * spread)
    # A lasting change is learned: after 60 refreshes at 2 ms the baseline is there.
    state = (centre, spread)
    for _ in range(60):
        state = learn(state, 2e-3, 1e-5)
    assert state[0] == pytest.approx(2e-3, rel=0.01)


async def test_the_stored_baseline_is_refreshed_at_most_once_a_minute(runtime: Runtime) -> None:
    check = PerformanceWithinBaseline()
    first = await check.measure(context(runtime))
    assert first["baseline_s"] == {"triad": None}
    names = [db_latency_name("triad"), db_latency_spread_name("triad")]
    stored = await read_baselines(runtime.engine, names=names)
    assert set(stored) == set(names)
    latency, spread = section(first["latency_s"])["triad"], section(first["spread_s"])["triad"]
    assert stored[names[0]][0] == latency
    assert stored[names[1]][0] == max(number(spread), MIN_SPREAD_S)
    # A fresh baseline is read, not written: the second measurement changes nothing.
    second = await check.measure(context(runtime))
    assert second["baseline_s"] == {"triad": latency}
    assert await read_baselines(runtime.engine, names=names) == stored
    # Once stale, the next measurement moves it (a little) towards itself.
    async with runtime.session() as session:
        old = utcnow() - timedelta(minutes=2)
        await set_baseline(session, name=names[0], value=1.0, unit="s", measured_at=old)
        await set_baseline(session, name=names[1], value=1e-4, unit="s", measured_at=old)
        await session.commit()
    await check.measure(context(runtime))
    refreshed = await read_baselines(runtime.engine, names=names)
    assert refreshed[names[0]][0] == pytest.approx(1.0 - LEARNING_RATE * CLIP * 1e-4)
    assert refreshed[names[0]][1] > old


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


def integrity_detail(runtime: Runtime, tables: str) -> str:
    if runtime.engine.dialect.name == "sqlite":
        return f"quick_check ok on {tables}"
    return "connected (primary); amcheck is not installed, pages not verified"


async def test_functionality_only_probes_a_target_no_step_rewrites(runtime: Runtime) -> None:
    check = SystemFunctionalityMaintained()
    noop = context(runtime, operation(plan=[planned("noop", sleep_s=0.0)], steps=[]))
    measured = await check.measure(noop)
    answers = "answers" if runtime.engine.dialect.name == "sqlite" else "answers (primary)"
    assert measured["databases"] == {"triad": {"ok": True, "detail": answers, "scope": "liveness"}}
    result = check.judge(noop, measured, measured)
    assert result.detail.startswith("all 1 databases answer; ")


async def test_functionality_checks_only_the_table_a_purge_rewrites(runtime: Runtime) -> None:
    check = SystemFunctionalityMaintained()
    purge = context(runtime)
    measured = await check.measure(purge)
    detail = integrity_detail(runtime, "audit_logs")
    assert measured["databases"] == {"triad": {"ok": True, "detail": detail, "scope": "integrity"}}
    result = check.judge(purge, measured, measured)
    assert result.passed, result.detail
    assert result.detail.startswith("all 1 databases answer, and triad passed integrity checks")


async def test_functionality_checks_all_of_a_database_a_vacuum_rewrites(
    scratch: CheckContext,
) -> None:
    check = SystemFunctionalityMaintained()
    vacuum = planned("database.vacuum_analyze", target="scratch")
    vacuum.preview.touches = ["scratch.t"]
    ctx = replace(scratch, operation=operation(plan=[vacuum], steps=[]))
    databases = section((await check.measure(ctx))["databases"])
    assert databases["scratch"] == {"ok": True, "detail": "quick_check ok", "scope": "integrity"}
    assert section(databases["triad"])["scope"] == "liveness"


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_integrity_uses_amcheck_where_an_administrator_installed_it(
    runtime: Runtime,
) -> None:
    async with runtime.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("CREATE EXTENSION amcheck"))
    try:
        assert await maintenance.integrity_ok(runtime.engine, tables=["audit_logs"]) == (
            True,
            "amcheck ok on audit_logs (primary)",
        )
        ok, detail = await maintenance.integrity_ok(runtime.engine)
        assert ok and re.fullmatch(r"amcheck ok on all \d+ tables \(primary\)", detail)
    finally:
        async with runtime.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("DROP EXTENSION amcheck"))


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


async def test_a_busy_database_skips_the_baseline_refresh(runtime: Runtime) -> None:
    # Another writer holds the lock the refresh needs: the measurement goes on without
    # waiting out SQLite's 30 s busy timeout, and the baseline is left for next time.
    names = [db_latency_name("triad"), db_latency_spread_name("triad")]
    async with runtime.session() as holder:
        await set_baseline(holder, name=names[0], value=1.0, unit="s", measured_at=utcnow())
        await holder.commit()
        stale = utcnow() + timedelta(minutes=1)
        await set_baseline(holder, name=names[0], value=2.0, unit="s")  # locks, uncommitted
        stored = await refresh_baselines(
            runtime.engine, values={names[0]: 3.0}, unit="s", stale_before=stale, wait_s=0.05
        )
        assert stored is False
        await holder.rollback()
    assert (await read_baselines(runtime.engine, names=names))[names[0]][0] == 1.0
