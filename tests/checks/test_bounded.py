"""The built-in checks cost the same however much history triad's own database holds.

No timing here (speed belongs in bench/): the statements each check issues are counted
and read, at 50 and at 5,000 stored operations, and on SQLite each SELECT's query plan
shows which tables it scans.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, insert, text, update

from tests.fixtures.pipeline import ALICE, load, request, submit
from triadops.actions.procedures import DEFAULT_CRITERIA
from triadops.checks.base import Check, CheckContext
from triadops.checks.builtin import builtin_checks
from triadops.checks.database import NoDataLoss
from triadops.constitution import lifecycle
from triadops.constitution.judicial.service import database_targets
from triadops.constitution.legislative.service import submit_operation
from triadops.domain.enums import OperationStatus, Risk
from triadops.domain.operations import Operation, Plan, PlannedStep, StepPreview, utcnow
from triadops.runtime import Runtime
from triadops.storage.engine import create_engine
from triadops.storage.tables import (
    AuditLogRow,
    Base,
    BaselineRow,
    LedgerHeadRow,
    LedgerRow,
    OperationRow,
    StepRow,
)
from triadops.storage.targets import DatabaseTargets
from triadops.worker.claims import drive_once

NOOP = [("noop", {})]
PURGE = [("database.purge_audit_logs", {"older_than_days": 30})]
TRIAD_TABLES = sorted(Base.metadata.tables)
ALWAYS_READ = {
    "agents_healthy": {"agent_calls"},  # each agent's newest calls in the window, by index
    "constitutional_compliance_verified": {"ledger"},  # this operation's entries, by index
    "no_data_loss": {"ledger_head"},  # one row
    "performance_within_baseline": {"baselines"},  # two rows by primary key
    "system_functionality_maintained": set(),
}
ONE_ROW = {"ledger_head"}
"""Tables that hold one row by design: reading all of them is reading one row."""
CATALOGUE = re.compile(r"sqlite_master|pg_catalog|pg_class|pg_namespace|pg_attribute|table_xinfo")


async def add_history(runtime: Runtime, *, start: int, count: int) -> None:
    """Store `count` finished operations the fast way: one bulk insert per table."""
    now = utcnow() - timedelta(days=1)
    ops, steps, links, logs = [], [], [], []
    async with runtime.session() as session:
        tip = await session.get(LedgerHeadRow, 1)
        assert tip is not None
        seq = tip.seq
        for n in range(start, start + count):
            op_id = f"op-history-{n:06d}"
            ops.append(
                {
                    "id": op_id,
                    "status": "completed",
                    "operation_type": "maintenance",
                    "requested_by": "alice",
                    "request": {"description": "history"},
                    "plan": {"steps": []},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            steps.append(
                {
                    "operation_id": op_id,
                    "index": 0,
                    "action": "noop",
                    "params": {},
                    "status": "succeeded",
                    "attempts": 1,
                    "idempotency_key": f"{op_id}:0",
                    "output": {},
                    "rollback_output": {},
                }
            )
            for to_status in ("reviewing", "approved", "scheduled", "executing", "completed"):
                seq += 1
                links.append(
                    {
                        "seq": seq,
                        "at": now,
                        "actor": "history",
                        "event": "transition",
                        "operation_id": op_id,
                        "from_status": None,
                        "to_status": to_status,
                        "details": {},
                        "prev_hash": "0" * 64,
                        "hash": f"{seq:064d}",
                    }
                )
            logs += [{"created_at": now, "actor": "alice", "action": "GET /", "detail": {}}] * 2
        for table, rows in (
            (OperationRow, ops),
            (StepRow, steps),
            (LedgerRow, links),
            (AuditLogRow, logs),
        ):
            await session.execute(insert(table), rows)
        await session.execute(update(LedgerHeadRow).values(seq=seq, hash=f"{seq:064d}"))
        await session.commit()


def check_context(runtime: Runtime, operation: Operation) -> CheckContext:
    """The context the judiciary builds for `operation`.

    With a tolerance no round trip can exceed: a busy moment would otherwise make the
    performance check take a further burst at one history size and not at the other.
    """
    return CheckContext(
        settings=runtime.settings.model_copy(update={"performance_tolerance": 1e9}),
        databases=runtime.databases,
        own=runtime.engine,
        operation=operation,
        database_targets=database_targets(operation),
    )


@contextmanager
def recording(runtime: Runtime) -> Iterator[list[tuple[str, Any]]]:
    """Collect every statement sent to triad's own database, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


async def statements(runtime: Runtime, check: Check, ctx: CheckContext) -> list[tuple[str, Any]]:
    """The statements of one before and one after measurement, from the same start."""
    async with runtime.session() as session:
        # Both history sizes start without a stored baseline, so both store one.
        await session.execute(delete(BaselineRow))
        await session.commit()
    with recording(runtime) as seen:
        await check.measure(ctx)
        await check.measure(ctx)
    return seen


def tables_named(statement: str) -> set[str]:
    return {t for t in TRIAD_TABLES if re.search(rf"\b{t}\b", statement)}


def scanned(database: str, statement: str, parameters: Any) -> set[str]:
    """Tables a SQLite SELECT reads in full (SCAN), by its query plan."""
    with sqlite3.connect(database) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
    found = {m.group(1) for row in plan if (m := re.match(r"SCAN (\w+)", str(row[3])))}
    return found & set(TRIAD_TABLES)  # not "SCAN CONSTANT ROW"


@pytest.mark.parametrize("steps", [NOOP, PURGE], ids=["noop", "purge"])
async def test_checks_issue_the_same_statements_at_any_history(
    runtime: Runtime, steps: list[tuple[str, dict[str, Any]]]
) -> None:
    await add_history(runtime, start=0, count=50)
    op = await submit(runtime, request(steps, validation_criteria=DEFAULT_CRITERIA))
    assert op.plan is not None
    touched = {t.split(".", 1)[1] for s in op.plan.steps for t in s.preview.touches}
    assert touched == (set() if steps is NOOP else {"audit_logs"})
    ctx = check_context(runtime, op)
    small = {c.name: await statements(runtime, c, ctx) for c in builtin_checks()}
    await add_history(runtime, start=50, count=4950)
    large = {c.name: await statements(runtime, c, ctx) for c in builtin_checks()}

    database = runtime.engine.url.database
    sqlite = runtime.engine.dialect.name == "sqlite"
    for name, seen in large.items():
        assert [s for s, _ in seen] == [s for s, _ in small[name]], name
        for statement, parameters in seen:
            outside = tables_named(statement) - ALWAYS_READ[name] - touched
            assert not outside, f"{name} reads {outside}: {statement}"
            # Neither a noop nor a purge rewrites a whole database: no whole-database check.
            assert statement.strip() != "PRAGMA quick_check", f"{name} checks every page"
            if sqlite and statement.startswith("SELECT") and not CATALOGUE.search(statement):
                full = scanned(str(database), statement, parameters) - touched - ONE_ROW
                assert not full, f"{name} scans {full}: {statement}"


def touching(touches: list[str]) -> Operation:
    """An operation whose one reviewed step declares it touches `touches`."""
    req = request(NOOP)
    now = utcnow()
    preview = StepPreview(summary="test", touches=touches)
    step = PlannedStep(
        index=0,
        action="noop",
        params={},
        risk=Risk.LOW,
        reversible=True,
        idempotent=True,
        timeout_s=1.0,
        preview=preview,
    )
    plan = Plan(steps=[step], affected_systems=[], rollback_plan=None, validation_criteria=[])
    return Operation(
        operation_id=req.operation_id,
        status=OperationStatus.VALIDATING,
        request=req,
        plan=plan,
        created_at=now,
        updated_at=now,
    )


async def test_a_count_past_its_budget_is_stopped_by_the_database(
    runtime: Runtime, tmp_path: Path
) -> None:
    # A target whose touched "table" is a view that would take hours to count.
    if runtime.engine.dialect.name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}"
        endless = (
            "CREATE VIEW endless AS WITH RECURSIVE n(i) AS"
            " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) SELECT i FROM n"
        )
    else:
        url = runtime.settings.resolved_database_url
        endless = "CREATE VIEW endless AS SELECT 1 AS i FROM pg_sleep(3600)"
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(endless))
    finally:
        await engine.dispose()
    databases = DatabaseTargets(runtime.engine, {"slow": url})
    tight = runtime.settings.model_copy(update={"check_timeout_s": 0.1})
    ctx = CheckContext(
        settings=tight,
        databases=databases,
        own=runtime.engine,
        operation=touching(["slow.endless"]),
        database_targets=["slow"],
    )
    try:
        measured = await NoDataLoss().measure(ctx)
    finally:
        await databases.dispose()
        async with engine.begin() as conn:
            await conn.execute(text("DROP VIEW endless"))
        await engine.dispose()
    assert measured["errors"] == {"slow.endless": "stopped at its 0.08 s budget"}
    result = NoDataLoss().judge(ctx, measured, measured)
    assert not result.passed
    assert result.detail.startswith(
        "rows of slow.endless could not be counted before: stopped at its 0.08 s budget; "
    )


async def test_no_false_rollback_among_healthy_operations_under_load(runtime: Runtime) -> None:
    # The defect: one SELECT 1 against a fixed 3 ms rolled back healthy operations while
    # the database was busy. Here another task keeps writing throughout, and the
    # operations themselves run 16 at a time, each measuring while the others work.
    requests = [request(NOOP, validation_criteria=DEFAULT_CRITERIA) for _ in range(200)]
    async with runtime.session() as session:
        for req in requests:
            await submit_operation(session, runtime.powers, request=req, requester=ALICE)
        await lifecycle.commit(session)
    stop = asyncio.Event()

    async def load_the_database() -> int:
        writes = 0
        while not stop.is_set():
            async with runtime.session() as session:
                await session.execute(
                    insert(AuditLogRow),
                    [{"created_at": utcnow(), "actor": "load", "action": "x", "detail": {}}] * 50,
                )
                await session.execute(text("SELECT count(*) FROM audit_logs"))
                await session.commit()
            writes += 1
        return writes

    loader = asyncio.create_task(load_the_database())
    try:
        while await drive_once(runtime.powers, owner="w", limit=16):
            pass
    finally:
        stop.set()
        writes = await loader
    assert writes > 0
    failed = []
    for req in requests:
        op = await load(runtime, req.operation_id)
        verdict = op.validation_result
        if op.status is not OperationStatus.COMPLETED or verdict is None or not verdict.passed:
            failed.append((op.operation_id, op.status, op.status_reason, verdict))
    assert not failed, f"{len(failed)} of {len(requests)} failed, such as {failed[:2]}"
