"""``--wait`` on a terminal shows the current step, its bytes done of the total, the time waited."""

from __future__ import annotations

import re

from rich.filesize import decimal
from typer.testing import CliRunner

from tests.cli.conftest import Triad, data
from triadops.cli.main import app
from triadops.cli.output import amount
from triadops.cli.progress import describe
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.operations import Operation

TERMINAL = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "100"}
"""Rich draws its status line for a terminal; these make the test's stderr count as one."""


def test_wait_shows_the_running_step_and_the_seconds(triad: Triad) -> None:
    runner = CliRunner()
    args = ["ops", "submit", "--id", "op-slow", "--step", "noop", "--params", '{"sleep_s": 1.2}']

    result = runner.invoke(app, [*args, "--wait"], env=TERMINAL, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert result.stdout == "op-slow: completed\n"
    assert re.search(r"op-slow: executing: step 1/1 \(noop\), \d+ s", result.stderr), result.stderr


def test_json_and_pipes_get_no_progress_line(triad: Triad) -> None:
    args = ["ops", "submit", "--step", "noop", "--params", '{"sleep_s": 0.3}', "--wait"]
    quiet = CliRunner().invoke(app, [*args, "--json"], env=TERMINAL, catch_exceptions=False)
    piped = triad(*args)

    assert quiet.exit_code == piped.exit_code == 0
    assert quiet.stderr == piped.stderr == ""


def test_a_running_step_shows_bytes_done_of_the_total_and_the_rate(triad: Triad) -> None:
    done = data(triad("backup", "run", "database", "--wait", "--json"))
    op = Operation.model_validate(done)
    (step,) = op.steps
    assert step.progress is not None and step.progress.finished
    size = step.progress.done_bytes
    # The same figures as the step reported them, read while it was still running.
    halfway = step.progress.model_copy(update={"done_bytes": size // 2, "finished": False})
    running = op.model_copy(
        update={
            "status": OperationStatus.EXECUTING,
            "steps": [step.model_copy(update={"status": StepStatus.RUNNING, "progress": halfway})],
        }
    )
    line = describe(running)
    assert line.startswith("executing: step 1/1 (backup.database): hash "), line
    assert f"{decimal(size // 2)} of {decimal(size)} (50%)" in line
    assert re.search(r", [\d.]+ [kMG]?B/s$", line), line
    assert amount(step.progress).endswith("/s") and "%" not in amount(step.progress)
