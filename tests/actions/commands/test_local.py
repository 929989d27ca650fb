"""The local runner: real processes, their groups killed on timeout and on cancel."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from triadops.actions.commands.invocation import Invocation
from triadops.actions.commands.local import LocalRunner
from triadops.actions.masking import Masker
from triadops.domain.errors import ActionFailed

PY = sys.executable
SPAWNS_GRANDCHILD = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "60"])
open(sys.argv[1], "w").write(str(child.pid))
print("started", flush=True)
time.sleep(60)
"""


def invocation(*argv: str, timeout_s: float = 30, limit: int = 4096, **kw: object) -> Invocation:
    return Invocation(
        argv=argv,
        env=kw.pop("env", {}),  # type: ignore[arg-type]
        cwd=kw.pop("cwd", None),  # type: ignore[arg-type]
        timeout_s=timeout_s,
        output_limit=limit,
        mask=kw.pop("mask", Masker(())),  # type: ignore[arg-type]
    )


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie nobody reaped yet counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_for_file(path: Path) -> int:
    for _ in range(600):
        if path.exists() and path.read_text():
            return int(path.read_text())
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


async def test_a_value_with_shell_syntax_stays_one_argument() -> None:
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    done = await LocalRunner().run(invocation(PY, "-c", script, "--tag", "v1; rm -rf /"))

    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout) == ["--tag", "v1; rm -rf /"]


async def test_exit_code_and_both_streams_are_kept() -> None:
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = await LocalRunner().run(invocation(PY, "-c", script))

    assert (done.exit_code, done.stdout, done.stderr) == (3, "out\n", "err\n")
    assert not done.timed_out and not done.truncated


async def test_a_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    done = await LocalRunner(kill_grace_s=0.5).run(
        invocation(PY, "-c", SPAWNS_GRANDCHILD, str(pid_file), timeout_s=1.5)
    )

    grandchild = int(pid_file.read_text())
    assert done.timed_out and done.exit_code is None
    assert done.stdout == "started\n"
    for _ in range(100):  # init reaps the orphan a moment later
        if not alive(grandchild):
            break
        await asyncio.sleep(0.02)
    assert not alive(grandchild), "the grandchild outlived the timeout"


async def test_a_cancel_kills_the_group_then_goes_on(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    task = asyncio.create_task(
        LocalRunner(kill_grace_s=0.5).run(invocation(PY, "-c", SPAWNS_GRANDCHILD, str(pid_file)))
    )
    grandchild = await wait_for_file(pid_file)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if not alive(grandchild):
            break
        await asyncio.sleep(0.02)
    assert not alive(grandchild), "the grandchild outlived the cancel"


async def test_output_past_the_bound_is_cut_and_marked() -> None:
    script = "import sys; sys.stdout.write('x' * 200000); sys.stderr.write('short')"
    done = await LocalRunner().run(invocation(PY, "-c", script, limit=1000))

    assert done.exit_code == 0 and done.truncated
    assert done.stdout.startswith("x" * 1000)
    assert done.stdout.count("x") == 1000
    assert "output truncated at 1000 bytes" in done.stdout
    assert done.stderr == "short"


async def test_undecodable_output_is_replaced_not_raised() -> None:
    script = "import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe end')"
    done = await LocalRunner().run(invocation(PY, "-c", script))

    assert done.stdout == "ok \ufffd\ufffd end"


async def test_secrets_are_masked_in_what_it_captured() -> None:
    script = (
        "import os, sys; print(os.environ['TOKEN']); "
        "print('t=' + os.environ['TOKEN'], file=sys.stderr)"
    )
    done = await LocalRunner().run(
        invocation(PY, "-c", script, env={"TOKEN": "s3cr3t-value"}, mask=Masker(["s3cr3t-value"]))
    )

    assert "s3cr3t-value" not in done.stdout + done.stderr
    assert done.stdout == "***\n" and done.stderr == "t=***\n"


async def test_the_parent_environment_does_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAD_DATABASE_PASSWORD", "hunter2")
    script = "import json, os; print(json.dumps(sorted(os.environ)))"
    done = await LocalRunner().run(invocation(PY, "-c", script, env={"MINE": "1"}))

    names = set(json.loads(done.stdout))
    assert "TRIAD_DATABASE_PASSWORD" not in names
    assert "MINE" in names and "PATH" in names
    assert names <= {"PATH", "HOME", "LANG", "MINE", "LC_CTYPE"}


async def test_cwd_is_where_it_runs(tmp_path: Path) -> None:
    script = "import os; print(os.getcwd())"
    done = await LocalRunner().run(invocation(PY, "-c", script, cwd=str(tmp_path)))

    assert done.stdout.strip() == str(tmp_path)


@pytest.mark.parametrize("program", ["/nonexistent/deploy-tool", "not-a-program-anywhere"])
async def test_a_missing_program_fails_naming_it(program: str) -> None:
    with pytest.raises(ActionFailed, match=r"cannot run .*no such file"):
        await LocalRunner().run(invocation(program, "--flag"))


async def test_a_program_that_cannot_execute_fails_naming_it(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    os.chmod(script, 0o644)

    with pytest.raises(ActionFailed, match=r"deploy\.sh.*permission denied"):
        await LocalRunner().run(invocation(str(script)))
