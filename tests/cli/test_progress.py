"""``--wait`` on a terminal shows the operation's current step and the time waited."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from tests.cli.conftest import Triad
from triadops.cli.main import app

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
