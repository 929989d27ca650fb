"""The supervisor that ties a local command to triad leaves the command as it would be."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.actions.commands.test_local import invocation
from triadops.actions.commands.local import LocalRunner
from triadops.actions.commands.tether import TETHERED, tethered

pytestmark = pytest.mark.skipif(not TETHERED, reason="commands are tethered on Linux only")


async def test_the_command_keeps_its_argv0_and_exit_code() -> None:
    done = await LocalRunner().run(invocation("sh", "-c", 'echo "$0"; exit 3'))

    assert (done.exit_code, done.stdout) == (3, "sh\n")


async def test_a_command_killed_by_a_signal_reads_as_killed_by_it() -> None:
    done = await LocalRunner().run(invocation("sh", "-c", "kill -s USR1 $$"))

    assert done.exit_code == -signal.SIGUSR1


async def test_the_command_inherits_no_ignored_signal() -> None:
    done = await LocalRunner().run(invocation("sh", "-c", "trap"))

    assert "PIPE" not in done.stdout and "USR2" not in done.stdout, done.stdout


async def test_a_relative_program_is_found_in_the_working_directory(tmp_path: Path) -> None:
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/sh\necho hello from $PWD\n")
    os.chmod(script, 0o755)

    done = await LocalRunner().run(invocation("./hello.sh", cwd=str(tmp_path)))

    assert done.stdout == f"hello from {tmp_path}\n"


def test_the_supervisor_leads_and_the_program_is_resolved() -> None:
    started = tethered(("sh", "-c", "true"), {"PATH": "/usr/bin:/bin"}, None)

    assert started[1:3] == ("-I", "-S") and started[5] == str(os.getpid())
    assert started[6].endswith("/sh") and started[7:] == ("sh", "-c", "true")
