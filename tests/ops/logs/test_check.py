"""``logs_clean_after_change``: measured before and after a change on real log files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.pipeline import approve, load, request, submit
from tests.ops.logs.corpus import line, write
from triadops.checks.base import CheckContext
from triadops.domain.clock import utcnow
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.operations import Operation, StepRecord
from triadops.ops.logs.checks import LogsCleanAfterChange
from triadops.runtime import Runtime, registries
from triadops.settings import Settings
from triadops.storage.engine import create_engine
from triadops.storage.targets import DatabaseTargets
from triadops.worker.claims import drive_once

Contexts = Callable[..., tuple[CheckContext, CheckContext]]


@pytest.fixture
async def contexts(tmp_path: Path) -> AsyncIterator[Contexts]:
    """Build the check's context before the steps ran and after the first one started."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'triad.db'}")

    def build(**fields: Any) -> tuple[CheckContext, CheckContext]:
        settings = Settings(home=tmp_path / "home", log_dirs=[tmp_path / "nginx"])
        now = utcnow()
        before = Operation(
            operation_id="op-logs",
            status=OperationStatus.EXECUTING,
            request=request(**fields),
            created_at=now,
            updated_at=now,
        )
        started = StepRecord(
            index=0, action="noop", params={}, status=StepStatus.SUCCEEDED, started_at=now
        )
        after = before.model_copy(update={"steps": [started]})
        made = [
            CheckContext(
                settings=settings,
                databases=DatabaseTargets(engine, {}),
                own=engine,
                operation=op,
            )
            for op in (before, after)
        ]
        return made[0], made[1]

    try:
        yield build
    finally:
        await engine.dispose()


def history(folder: Path, *, lines: int = 60) -> None:
    """The hour before: info lines and a known warning, a line a minute (the first 59.5 ago)."""
    now = utcnow()
    write(
        folder / "executive.log",
        (
            line(now - timedelta(seconds=3570 - 60 * i), f"retry {i} of a slow call", "warning")
            if i % 10 == 0
            else line(now - timedelta(seconds=3570 - 60 * i), "stage ran")
            for i in range(lines)
        ),
    )


async def judged(ctxs: tuple[CheckContext, CheckContext], change: Callable[[], None]) -> Any:
    check = LogsCleanAfterChange()
    before = await check.measure(ctxs[0])
    change()
    after = await check.measure(ctxs[1])
    assert before["phase"] == "before" and after["phase"] == "after"
    return check.judge(ctxs[1], before, after)


async def test_a_new_error_after_the_change_fails_it(contexts: Contexts, tmp_path: Path) -> None:
    history(tmp_path / "home" / "logs")

    def broke() -> None:
        write(
            tmp_path / "home" / "logs" / "executive.log",
            [line(utcnow(), "database 7 is read-only", "error")],
        )

    result = await judged(contexts(), broke)
    assert result.passed is False
    assert result.detail == 'new: "database <NUM> is read-only" (1 times)'


async def test_a_jump_in_a_known_warning_fails_it(contexts: Contexts, tmp_path: Path) -> None:
    history(tmp_path / "home" / "logs")

    def louder() -> None:
        now = utcnow()
        write(
            tmp_path / "home" / "logs" / "executive.log",
            [line(now, f"retry {i} of a slow call", "warning") for i in range(12)],
        )

    result = await judged(contexts(), louder)
    assert result.passed is False and result.detail.startswith('jumped: "retry <NUM> of a slow')


async def test_a_clean_change_passes(contexts: Contexts, tmp_path: Path) -> None:
    history(tmp_path / "home" / "logs")

    def clean() -> None:
        now = utcnow()
        write(
            tmp_path / "home" / "logs" / "executive.log",
            [line(now, "stage ran"), line(now, "retry 3 of a slow call", "warning")],
        )

    result = await judged(contexts(), clean)
    assert result.passed is True and result.detail.startswith("no new warning or error")
    assert result.before["lines"] == 60 and result.after["lines"] == 2


async def test_too_few_lines_is_inconclusive(contexts: Contexts, tmp_path: Path) -> None:
    history(tmp_path / "home" / "logs", lines=5)

    def broke() -> None:
        write(tmp_path / "home" / "logs" / "executive.log", [line(utcnow(), "boom", "error")])

    result = await judged(contexts(), broke)
    assert result.passed is True and result.detail.startswith("inconclusive: 5 log lines")


async def test_a_service_the_operation_names_is_read_too(
    contexts: Contexts, tmp_path: Path
) -> None:
    history(tmp_path / "home" / "logs")
    write(
        tmp_path / "nginx" / "error.log",
        [f"{(utcnow() - timedelta(minutes=30)):%Y/%m/%d %H:%M:%S} [info] 1#0: started"],
    )

    def broke() -> None:
        write(
            tmp_path / "nginx" / "error.log",
            [f"{utcnow():%Y/%m/%d %H:%M:%S} [error] 1#0: upstream 10.0.0.9:80 refused"],
        )

    named = await judged(contexts(affected_systems=["nginx"]), broke)
    assert named.passed is False and "upstream <IP> refused" in named.detail
    assert named.after["sources"] == ["triad", "nginx"]
    unnamed = await judged(contexts(affected_systems=["db"]), lambda: None)
    assert unnamed.passed is True and unnamed.after["sources"] == ["triad"]


def test_the_check_is_registered() -> None:
    _, checks = registries(Settings())
    assert "logs_clean_after_change" in checks.names()


async def test_an_operation_validated_by_its_logs_completes(runtime: Runtime) -> None:
    history(runtime.settings.log_dir)
    op = await submit(runtime, request(validation_criteria=["logs_clean_after_change"]))
    if op.status is OperationStatus.AWAITING_APPROVAL:
        op = await approve(runtime, op.operation_id)
    while await drive_once(runtime.powers, owner="w"):
        pass
    done = await load(runtime, op.operation_id)
    assert done.status is OperationStatus.COMPLETED, done.status_reason
    assert done.validation_result is not None
    (found,) = [f for f in done.validation_result.findings if f.name == "logs_clean_after_change"]
    assert found.passed and found.detail.startswith("no new warning or error template")
    assert found.before["phase"] == "before" and found.before["lines"] == 60
    assert found.after["phase"] == "after"
