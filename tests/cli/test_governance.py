"""One governance for every writer of a database: a process under other settings refuses."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.cli.conftest import Triad, data, one_error_line
from triadops.runtime import Runtime
from triadops.settings import Settings


def the_server_governs(**settings: object) -> None:
    """Do what ``triad serve`` does on start: make its settings the database's governance."""

    async def adopt() -> None:
        rt = await Runtime.open(Settings(**settings))  # type: ignore[arg-type]
        try:
            await rt.check_governance(writer="triad serve on ops-1", adopt=True)
        finally:
            await rt.close()

    asyncio.run(adopt())


def test_a_shell_without_the_servers_model_refuses_to_submit_naming_model(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-used")
    the_server_governs(model="openai:gpt-4o")

    refused = triad("ops", "submit", "--step", "noop", "--id", "op-g")

    assert refused.exit_code == 1
    line = one_error_line(refused)
    assert re.match(
        r"error: refusing to write: this process's model is 'rules' but the database's "
        r"governance says 'openai:gpt-4o' \(set by triad serve on ops-1 at [0-9T:+-]+\) "
        r"\(and 3 more: agents\.evaluator, agents\.executor, agents\.planner\); run remotely "
        r"with TRIAD_URL or use the same settings$",
        line,
    ), line
    assert "sk-test" not in line
    assert data(triad("ops", "list", "--json")) == []  # reads still run
    assert "no operation 'op-g'" in one_error_line(triad("ops", "show", "op-g"))


def test_the_first_writer_stores_the_governance_and_a_differing_writer_refuses(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert triad("ops", "submit", "--step", "noop", "--id", "op-1").exit_code == 0
    monkeypatch.setenv("TRIAD_APPROVAL_TIMEOUT_S", "60")
    monkeypatch.setenv("TRIAD_HEALTH__THRESHOLDS__CPU_PERCENT", "50")

    for args in (
        ["ops", "submit", "--step", "noop"],
        ["ops", "cancel", "op-1"],
        ["silences", "add", "alertname=X", "--duration", "1h"],
        ["health"],
    ):
        result = triad(*args)
        assert result.exit_code == 1, (args, result.output)
        line = one_error_line(result)
        assert (
            "this process's approval_timeout_s is 60.0 but the database's governance says 86400.0"
            in line
        )
        assert "(and 1 more: health.thresholds.cpu_percent)" in line

    assert data(triad("ops", "show", "op-1", "--json"))["status"] == "scheduled"
    # What no governing setting decides still works: the crown's brake, issuing tokens.
    assert triad("freeze", "--reason", "drill").exit_code == 0
    assert triad("token", "create", "--name", "ci", "--role", "viewer").exit_code == 0


def test_the_server_adopts_its_settings_and_the_same_settings_write(triad: Triad) -> None:
    the_server_governs(approval_timeout_s=60)
    assert "approval_timeout_s" in one_error_line(triad("ops", "submit", "--step", "noop"))

    the_server_governs()

    assert triad("ops", "submit", "--step", "noop").exit_code == 0


def test_a_worker_under_other_settings_refuses_to_start(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    the_server_governs()
    monkeypatch.setenv("TRIAD_BLAST_RADIUS_THRESHOLD", "9")

    refused = triad("worker")

    assert refused.exit_code == 1
    [line] = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert "this process's blast_radius_threshold is 9 but the database's governance says 3" in line
    assert "started; Ctrl-C to stop" not in refused.stderr
