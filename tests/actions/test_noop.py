from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fixtures.pipeline import request, submit
from triadops.actions.base import ActionContext
from triadops.actions.builtin import builtin_actions
from triadops.actions.noop import NoopAction, NoopOnceAction, NoopParams
from triadops.actions.registry import ActionRegistry
from triadops.domain.errors import ActionFailed, InvalidRequest
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import OperationRow


def test_both_noops_are_registered_with_their_declarations() -> None:
    registry = ActionRegistry(builtin_actions())
    noop, once = registry.get("noop"), registry.get("noop.once")
    assert (noop.idempotent, noop.reversible, noop.risk) == (True, True, "low")
    assert (once.idempotent, once.reversible) == (False, True)


def test_params_are_bounded_and_closed() -> None:
    registry = ActionRegistry(builtin_actions())
    with pytest.raises(InvalidRequest, match=r"steps\[0\]: params.sleep_s"):
        registry.validate_params("noop", {"sleep_s": 3601}, where="steps[0]")
    with pytest.raises(InvalidRequest, match=r"params.colour"):
        registry.validate_params("noop", {"colour": "red"}, where="steps[0]")


async def test_run_sleeps_and_marks_each_start(file_context: ActionContext, tmp_path: Path) -> None:
    marker = tmp_path / "home" / "drills" / "runs.txt"
    params = NoopParams(sleep_s=0.05, marker=str(marker))
    started = time.perf_counter()
    output = await NoopAction().run(file_context, params)
    assert time.perf_counter() - started >= 0.05
    assert output == {"slept_s": 0.05}
    await NoopAction().run(file_context, params)
    assert marker.read_text().splitlines() == ["op-test:0", "op-test:0"]


async def test_fail_knobs_raise_action_failed(file_context: ActionContext, tmp_path: Path) -> None:
    marker = tmp_path / "home" / "drills" / "runs.txt"
    with pytest.raises(ActionFailed, match="noop asked to fail"):
        await NoopAction().run(file_context, NoopParams(fail=True, marker=str(marker)))
    undone = await NoopAction().rollback(file_context, NoopParams(marker=str(marker)), {})
    assert undone == {"undone": True}
    with pytest.raises(ActionFailed, match="rollback asked to fail"):
        await NoopAction().rollback(file_context, NoopParams(fail_rollback=True), {})
    assert marker.read_text().splitlines() == ["op-test:0", "rollback op-test:0"]


async def test_noop_once_cannot_tell_whether_it_ran(file_context: ActionContext) -> None:
    once = NoopOnceAction()
    assert await once.probe(file_context, NoopParams()) is None
    with pytest.raises(ActionFailed, match=r"noop\.once asked to fail"):
        await once.run(file_context, NoopParams(fail=True))


async def test_preview_touches_nothing(file_context: ActionContext, tmp_path: Path) -> None:
    marker = tmp_path / "home" / "drills" / "runs.txt"
    preview = await NoopAction().preview(file_context, NoopParams(sleep_s=2, fail=True))
    assert preview.summary == "wait 2 s, then fail; touches nothing"
    assert preview.amounts == {"sleep_s": 2}
    await NoopAction().preview(file_context, NoopParams(marker=str(marker)))
    assert not marker.exists()


async def test_a_relative_marker_lies_in_the_drill_folder(
    file_context: ActionContext, tmp_path: Path
) -> None:
    await NoopAction().run(file_context, NoopParams(marker="runs.txt"))

    assert (tmp_path / "home" / "drills" / "runs.txt").read_text() == "op-test:0\n"


async def test_marker_outside_the_drill_folder_is_refused(
    file_context: ActionContext, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.txt"
    database = tmp_path / "home" / "triad.db"
    for call in (
        NoopAction().preview(file_context, NoopParams(marker=str(outside))),
        NoopAction().run(file_context, NoopParams(marker=str(outside))),
        NoopAction().run(file_context, NoopParams(marker=str(tmp_path / "home" / ".." / "x"))),
        NoopAction().run(file_context, NoopParams(marker=str(database))),
        NoopAction().rollback(file_context, NoopParams(marker=str(database)), {}),
        NoopAction().run(file_context, NoopParams(marker=str(tmp_path / "home" / "drills"))),
    ):
        with pytest.raises(InvalidRequest, match="outside the drill folder") as refused:
            await call
        assert refused.value.field == "marker"
    assert not outside.exists()
    assert not database.exists()


@pytest.fixture
async def home_runtime(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime laid out as by default: its SQLite database is ``$TRIAD_HOME/triad.db``."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "triad.db")
    settings = Settings(home=home, database_url=f"sqlite+aiosqlite:///{home / 'triad.db'}")
    rt = await Runtime.open(settings, migrate=False)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.mark.parametrize(
    "marker",
    [
        "{home}/triad.db",
        "{home}/triad.db-wal",
        "{home}/triad.db-shm",
        "{home}/drills/../triad.db",
        "../triad.db",
        "{home}/drills/link",
        "{home}/drills/linked/triad.db",
    ],
)
async def test_a_marker_on_the_live_database_is_refused_at_submission(
    home_runtime: Runtime, marker: str
) -> None:
    home = home_runtime.settings.home
    database = home / "triad.db"
    (home / "drills").mkdir()
    (home / "drills" / "link").symlink_to(database)
    (home / "drills" / "linked").symlink_to(home)
    assert await stored_operations(home_runtime) == 0  # opens the database and its WAL
    before = database_files(home)

    attack = request([("noop", {"marker": marker.format(home=home)})])
    with pytest.raises(InvalidRequest, match="outside the drill folder") as refused:
        await submit(home_runtime, attack)

    assert refused.value.field == "steps[0].params.marker"
    assert await stored_operations(home_runtime) == 0
    assert database_files(home) == before


async def stored_operations(rt: Runtime) -> int | None:
    async with rt.session(read_only=True) as session:
        return await session.scalar(select(func.count()).select_from(OperationRow))


def database_files(home: Path) -> dict[str, bytes]:
    """Return the bytes of the database and its WAL (the -shm index is rewritten by readers)."""
    return {name: (home / name).read_bytes() for name in ("triad.db", "triad.db-wal")}
