from __future__ import annotations

import time
from pathlib import Path

import pytest

from triadops.actions.base import ActionContext
from triadops.actions.builtin import builtin_actions
from triadops.actions.noop import NoopAction, NoopOnceAction, NoopParams
from triadops.actions.registry import ActionRegistry
from triadops.domain.errors import ActionFailed, InvalidRequest


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
    marker = tmp_path / "home" / "runs.txt"
    params = NoopParams(sleep_s=0.05, marker=str(marker))
    started = time.perf_counter()
    output = await NoopAction().run(file_context, params)
    assert time.perf_counter() - started >= 0.05
    assert output == {"slept_s": 0.05}
    await NoopAction().run(file_context, params)
    assert marker.read_text().splitlines() == ["op-test:0", "op-test:0"]


async def test_fail_knobs_raise_action_failed(file_context: ActionContext, tmp_path: Path) -> None:
    marker = tmp_path / "home" / "runs.txt"
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
    marker = tmp_path / "home" / "runs.txt"
    preview = await NoopAction().preview(file_context, NoopParams(sleep_s=2, fail=True))
    assert preview.summary == "wait 2 s, then fail; touches nothing"
    assert preview.amounts == {"sleep_s": 2}
    await NoopAction().preview(file_context, NoopParams(marker=str(marker)))
    assert not marker.exists()


async def test_marker_outside_the_data_folder_is_refused(
    file_context: ActionContext, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.txt"
    for call in (
        NoopAction().preview(file_context, NoopParams(marker=str(outside))),
        NoopAction().run(file_context, NoopParams(marker=str(outside))),
        NoopAction().run(file_context, NoopParams(marker=str(tmp_path / "home" / ".." / "x"))),
    ):
        with pytest.raises(InvalidRequest, match="outside the data folder"):
            await call
    assert not outside.exists()
