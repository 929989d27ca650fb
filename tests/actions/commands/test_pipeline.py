"""Declared commands through the pipeline: argv as declared, failures, secrets, rollback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.actions.commands.declared import (
    argv,
    calls,
    deploy_spec,
    open_runtime,
    with_commands,
)
from tests.fixtures.api import drive
from tests.fixtures.pipeline import load, request, submit
from triadops.actions.commands.declared import command_actions
from triadops.domain.errors import InvalidRequest
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import LedgerRow, OperationRow, StepRow

SECRET = "tok-9f8e7d6c5b4a"


async def _everything_stored(rt: Runtime) -> str:
    """The ledger, the operations and the steps, as one text to search."""
    async with rt.session(read_only=True) as session:
        rows: list[object] = []
        for table in (LedgerRow, OperationRow, StepRow):
            rows += list((await session.scalars(select(table))).all())
    return "\n".join(json.dumps(vars(r), default=str) for r in rows)


async def test_a_value_with_shell_syntax_is_one_argument_in_its_declared_place(
    settings: Settings, tool: Path, opened: list[Runtime]
) -> None:
    spec = deploy_spec(tool, params={"tag": {"type": "str"}})  # no pattern at all
    rt = await open_runtime(opened, with_commands(settings, deploy=spec))
    op = await submit(rt, request([("command.deploy", {"tag": "v1; rm -rf / #"})]))
    await drive(rt)

    done = await load(rt, op.operation_id)
    assert done.status == "completed", done.status_reason
    assert calls(tool) == [["deploy", "v1; rm -rf / #"]]
    output = done.steps[0].output
    assert output["exit_code"] == 0 and output["stdout"] == "done deploy\n"
    assert output["argv"] == [*argv(tool, "deploy", "v1; rm -rf / #")]


async def test_the_preview_shows_the_exact_argv_and_names_of_env_only(
    settings: Settings, tool: Path, opened: list[Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    spec = deploy_spec(tool, env={"TOKEN": "${DEPLOY_TOKEN}"}, cwd=str(tool.parent))
    rt = await open_runtime(opened, with_commands(settings, deploy=spec))
    op = await submit(rt, request([("command.deploy", {"tag": "v2.1"})]))

    assert op.plan is not None
    summary = op.plan.steps[0].preview.summary
    assert repr(argv(tool, "deploy", "v2.1")) in summary
    assert repr(argv(tool, "undeploy", "v2.1")) in summary
    assert "env TOKEN" in summary and f"in {tool.parent}" in summary
    assert "timeout 30 s, success on exit 0" in summary
    assert SECRET not in summary and "DEPLOY_TOKEN" not in summary
    assert calls(tool) == [], "a preview ran the command"


async def test_a_non_zero_exit_fails_the_step_with_its_output(
    settings: Settings, tool: Path, opened: list[Runtime]
) -> None:
    spec = deploy_spec(tool, argv=argv(tool, "fail", "{tag}"))
    rt = await open_runtime(opened, with_commands(settings, deploy=spec))
    op = await submit(rt, request([("command.deploy", {"tag": "v1"})]))
    await drive(rt)

    done = await load(rt, op.operation_id)
    assert done.status == "failed"
    error = done.steps[0].error or ""
    assert "command.deploy exited with 7 (success: 0)" in error
    assert "about to fail" in error
    output = done.steps[0].output
    assert (output["exit_code"], output["stderr"]) == (7, "about to fail\n")
    assert calls(tool) == [["fail", "v1"]]


async def test_a_secret_never_reaches_output_preview_ledger_or_logs(
    settings: Settings,
    tool: Path,
    opened: list[Runtime],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    ok = deploy_spec(tool, env={"TOKEN": "${DEPLOY_TOKEN}"})
    failing = deploy_spec(tool, env={"TOKEN": "${DEPLOY_TOKEN}"}, argv=argv(tool, "fail", "x"))
    rt = await open_runtime(opened, with_commands(settings, deploy=ok, broken=failing))
    first = await submit(rt, request([("command.deploy", {"tag": "v1"})]))
    second = await submit(rt, request([("command.broken", {"tag": "v1"})]))
    await drive(rt)

    shown = await load(rt, first.operation_id)
    assert shown.status == "completed"
    assert shown.steps[0].output["stdout"] == "token is ***\ndone deploy\n"
    assert shown.steps[0].output["stderr"] == "again ***\n"
    failed = await load(rt, second.operation_id)
    assert failed.status == "failed" and "again ***" in (failed.steps[0].error or "")
    stored = await _everything_stored(rt)
    assert "token is ***" in stored  # the search reads what was kept
    assert SECRET not in stored
    logged = caplog.text + "".join(capfd.readouterr())
    assert SECRET not in logged
    assert len(calls(tool)) == 2


async def test_an_unset_variable_fails_the_step_naming_it(
    settings: Settings, tool: Path, opened: list[Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    spec = deploy_spec(tool, env={"TOKEN": "${NOT_SET_ANYWHERE}"})
    rt = await open_runtime(opened, with_commands(settings, deploy=spec))
    op = await submit(rt, request([("command.deploy", {"tag": "v1"})]))
    await drive(rt)

    done = await load(rt, op.operation_id)
    assert done.status == "failed"
    assert "environment variable NOT_SET_ANYWHERE is not set" in (done.steps[0].error or "")
    assert calls(tool) == []


async def test_a_later_failure_runs_the_rollback_argv_with_the_same_params(
    settings: Settings, tool: Path, opened: list[Runtime]
) -> None:
    rt = await open_runtime(opened, with_commands(settings, deploy=deploy_spec(tool)))
    steps = [("command.deploy", {"tag": "v3"}), ("noop", {"fail": True})]
    op = await submit(rt, request(steps, rollback_plan="undeploy v3"))
    await drive(rt)

    done = await load(rt, op.operation_id)
    assert done.status == "rolled_back", done.status_reason
    assert calls(tool) == [["deploy", "v3"], ["undeploy", "v3"]]
    assert done.steps[0].rollback_output["undone"] is True
    assert done.steps[0].rollback_output["stdout"] == "done undeploy\n"


async def test_a_timeout_fails_the_step_and_kills_the_command(
    settings: Settings, tool: Path, opened: list[Runtime]
) -> None:
    sleeper = tool.parent / "sleeper.py"
    sleeper.write_text("import time\nprint('waiting', flush=True)\ntime.sleep(60)\n")
    spec = deploy_spec(tool, argv=[argv(tool)[0], str(sleeper), "{tag}"], timeout_s=1)
    rt = await open_runtime(opened, with_commands(settings, deploy=spec))
    op = await submit(rt, request([("command.deploy", {"tag": "v1"})]))
    await drive(rt)

    done = await load(rt, op.operation_id)
    assert done.status == "failed"
    error = done.steps[0].error or ""
    assert "command.deploy timed out after 1 s (its process group was killed)" in error
    assert "waiting" in error
    output = done.steps[0].output
    assert output["timed_out"] is True and output["exit_code"] is None
    assert output["stdout"] == "waiting\n"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "steps[0].params.tag"),
        ({"tag": 3}, "steps[0].params.tag"),
        ({"tag": "v1; rm -rf /"}, "steps[0].params.tag"),
        ({"tag": "v1", "host": "evil"}, "steps[0].params.host"),
    ],
)
async def test_bad_params_are_refused_before_anything_is_stored(
    settings: Settings,
    tool: Path,
    opened: list[Runtime],
    params: dict[str, object],
    field: str,
) -> None:
    rt = await open_runtime(opened, with_commands(settings, deploy=deploy_spec(tool)))

    with pytest.raises(InvalidRequest) as refused:
        await submit(rt, request([("command.deploy", params)]))

    assert refused.value.field == field
    async with rt.session(read_only=True) as session:
        assert (await session.scalars(select(OperationRow))).all() == []


def test_declarations_become_actions_with_their_declared_traits(tool: Path, tmp_path: Path) -> None:
    spec = deploy_spec(tool, risk="high", idempotent=False, timeout_s=12)
    (action,) = command_actions(Settings(home=tmp_path, commands={"deploy": spec}))

    assert action.name == "command.deploy"
    assert (action.risk, action.reversible, action.idempotent) == ("high", True, False)
    assert action.interruptible and action.timeout_s > 12
    assert (
        action.definition()
        == command_actions(Settings(home=tmp_path, commands={"deploy": spec}))[0].definition()
    )
    other = command_actions(Settings(home=tmp_path, commands={"deploy": {**spec, "timeout_s": 13}}))
    assert other[0].definition() != action.definition()
