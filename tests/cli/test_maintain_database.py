"""``triad maintain database``: one governed operation, locally and through a server."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.cli.conftest import Server, Triad, data, one_error_line, operation
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import AuditLogRow

STEPS = [
    "database.vacuum_analyze",
    "database.reindex",
    "logs.purge",
    "database.purge_audit_logs",
]


async def add_audit_logs(settings: Settings, *, old: int, young: int) -> None:
    rt = await Runtime.open(settings, migrate=False)
    try:
        async with rt.session() as session:
            for count, days in ((old, 31), (young, 29)):
                session.add_all(
                    AuditLogRow(
                        created_at=utcnow() - timedelta(days=days),
                        actor="tester",
                        action="GET /x",
                        detail={},
                    )
                    for _ in range(count)
                )
            await session.commit()
    finally:
        await rt.close()


async def audit_logs(settings: Settings) -> int:
    rt = await Runtime.open(settings, migrate=False)
    try:
        async with rt.session(read_only=True) as session:
            return int(await session.scalar(select(func.count()).select_from(AuditLogRow)) or 0)
    finally:
        await rt.close()


def old_and_young_logs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, days in (("app.log.1", 8.0), ("app.log.2", 1.0)):
        (folder / name).write_text("line\n")
        at = utcnow().timestamp() - days * 86400
        os.utime(folder / name, (at, at))


def test_dry_run_plans_the_steps_and_stores_nothing(triad: Triad) -> None:
    planned = data(triad("maintain", "database", "--dry-run", "--json"))
    assert [s["action"] for s in planned["plan"]["steps"]] == STEPS
    purge = planned["plan"]["steps"][3]["params"]
    assert purge["older_than_days"] == 30 and purge["batch_size"] == 1000
    assert planned["plan"]["steps"][2]["params"]["older_than_days"] == 7
    assert planned["planning_result"]["risk_level"] == "medium"
    assert data(triad("ops", "list", "--json")) == []


def test_reset_stats_only_when_asked_and_last(triad: Triad) -> None:
    planned = data(triad("maintain", "database", "--dry-run", "--json", "--skip-retention"))
    actions = [s["action"] for s in planned["plan"]["steps"]]
    assert "database.reset_stats" not in actions
    assert planned["planning_result"]["risk_level"] == "low"
    planned = data(triad("maintain", "database", "--dry-run", "--json", "--reset-stats"))
    assert [s["action"] for s in planned["plan"]["steps"]] == [*STEPS, "database.reset_stats"]


def test_runs_as_one_operation_approved_and_measured(triad: Triad, settings: Settings) -> None:
    asyncio.run(add_audit_logs(settings, old=25, young=4))
    old_and_young_logs(settings.log_dir)
    submitted = data(triad("maintain", "database", "--wait", "--json", "--as", "alice"))
    if submitted["status"] == "awaiting_approval":  # outside a window, deleting rows waits
        approved = triad("ops", "approve", submitted["operation_id"], "--as", "bob", "--wait")
        assert approved.exit_code == 0, approved.output
    shown = operation(triad, submitted["operation_id"])

    assert shown["status"] == "completed", shown["status_reason"]
    assert [s["action"] for s in shown["steps"]] == STEPS
    assert shown["steps"][3]["output"]["deleted_rows"] == {"audit_logs": 25}
    assert shown["steps"][2]["output"]["deleted"] == ["app.log.1"]
    assert sorted(p.name for p in settings.log_dir.iterdir()) == ["app.log.2"]
    assert asyncio.run(audit_logs(settings)) == 4
    findings = {f["name"] for f in shown["validation_result"]["findings"]}
    assert {"system_functionality_maintained", "no_data_loss"} <= findings
    assert shown["validation_result"]["passed"] is True


def test_an_unknown_target_fails_in_one_line_and_stores_nothing(triad: Triad) -> None:
    line = one_error_line(triad("maintain", "database", "--target", "nowhere"))
    assert "nowhere" in line
    assert data(triad("ops", "list", "--json")) == []


def test_through_a_server_with_the_token(
    server: Server, triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_URL", server.url)
    monkeypatch.setenv("TRIAD_TOKEN", server.token)
    done = data(triad("maintain", "database", "--skip-retention", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    assert done["request"]["requested_by"] == "ops"
    assert [s["action"] for s in done["steps"]] == STEPS[:3]
