"""The SSH runner against a real sshd on 127.0.0.1: output, arguments, host keys, timeouts.

Doors of "a timeout kills the remote process too": the timeout (TERM), a process that
ignores TERM (KILL after the grace), and a cancel of the running step.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest

from tests.fixtures.sshd import SshServer, known_hosts_line
from triadops.actions.commands.invocation import Completed, Invocation
from triadops.actions.commands.ssh import HostKeyRejected, HostUnreachable, SshRunner
from triadops.actions.masking import Masker
from triadops.domain.errors import ActionFailed


@pytest.fixture(params=["ssh_server", "asyncssh_server"])
def server(request: pytest.FixtureRequest) -> SshServer:
    """Each test against the preferred server (sshd) and against the asyncssh fallback."""
    chosen: SshServer = request.getfixturevalue(request.param)
    return chosen


def invocation(*argv: str, **changes: object) -> Invocation:
    fields: dict[str, object] = {
        "env": {},
        "cwd": None,
        "timeout_s": 30.0,
        "output_limit": 4096,
    }
    fields.update(changes)
    return Invocation(argv=argv, **fields)  # type: ignore[arg-type]


def runner(server: SshServer, known_hosts: Path | None = None, **changes: object) -> SshRunner:
    return SshRunner(
        server.host(**changes), known_hosts=known_hosts or server.known_hosts, name="web-1"
    )


def running(pattern: str) -> list[str]:
    """Return the host's processes whose command line contains `pattern`."""
    found = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


async def gone(pattern: str, within_s: float = 10.0) -> bool:
    """Wait until no process matches `pattern` (killed ones may take a moment to be reaped)."""
    deadline = time.monotonic() + within_s
    while running(pattern):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def until(condition: object, within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_output_is_masked_bounded_and_the_exit_code_kept(server: SshServer) -> None:
    secret = "s3cr3t-" + secrets.token_hex(8)
    script = 'echo "token=$API_TOKEN"; head -c 5000 /dev/zero | tr "\\0" x; echo oops >&2; exit 3'
    done = await runner(server).run(
        invocation(
            "sh",
            "-c",
            script,
            env={"API_TOKEN": secret},
            output_limit=1000,
            mask=Masker([secret]),
        )
    )
    assert done.exit_code == 3
    assert not done.timed_out
    assert done.stdout.startswith("token=***\n")
    assert secret not in done.stdout + done.stderr
    assert done.truncated
    assert len(done.stdout.encode()) == 1000
    assert done.stderr == "oops\n"


async def test_a_secret_cut_by_the_limit_is_still_masked(server: SshServer) -> None:
    secret = "k" * 40 + secrets.token_hex(8)
    done = await runner(server).run(
        invocation(
            "sh",
            "-c",
            'head -c 998 /dev/zero | tr "\\0" .; echo "$T"',
            env={"T": secret},
            output_limit=1000,
            mask=Masker([secret]),
        )
    )
    assert done.truncated
    assert "k" not in done.stdout
    assert done.stdout == "." * 998 + "**"


async def test_secret_values_never_reach_a_command_line(server: SshServer) -> None:
    secret = "hunter-" + secrets.token_hex(8)
    done = await runner(server).run(
        invocation(
            "sh",
            "-c",
            'cat /proc/$$/cmdline /proc/$PPID/cmdline | tr "\\0" " "; echo; echo "$PW" | wc -c',
            env={"PW": secret},
        )
    )
    assert done.exit_code == 0
    assert secret not in done.stdout
    assert done.stdout.splitlines()[-1].strip() == str(len(secret) + 1)


async def test_arguments_arrive_one_for_one(server: SshServer, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    tricky = [
        "two words",
        f"x; touch {marker}",
        f"$(touch {marker})",
        f"`touch {marker}`",
        "'single' \"double\"",
        "",
        "*",
        "tab\there\nnewline",
        "ünïcode",
        "--flag=a b",
    ]
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    done = await runner(server).run(invocation(sys.executable, "-c", script, *tricky))
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout) == tricky
    assert not marker.exists()


async def test_working_directory_and_environment(server: SshServer, tmp_path: Path) -> None:
    folder = tmp_path / "a dir; with $(odd) name"
    folder.mkdir()
    done = await runner(server).run(
        invocation(
            "sh",
            "-c",
            'pwd; printf "%s|" "$GREETING"',
            env={"GREETING": 'it\'s a "quoted" $HOME\nvalue'},
            cwd=str(folder),
        )
    )
    assert done.exit_code == 0, done.stderr
    assert done.stdout == f'{folder}\nit\'s a "quoted" $HOME\nvalue|'


async def test_a_bad_environment_name_runs_nothing(server: SshServer, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ActionFailed) as refused:
        await runner(server).run(invocation("touch", str(marker), env={"X; touch y": "1"}))
    assert "not a shell variable name" in refused.value.message
    assert not marker.exists()


async def test_a_missing_directory_runs_nothing(server: SshServer, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = await runner(server).run(invocation("touch", str(marker), cwd=str(tmp_path / "absent")))
    assert done.exit_code == 125
    assert not marker.exists()


@pytest.mark.parametrize("known", ["changed", "unknown"])
async def test_a_host_key_that_does_not_match_is_refused(
    server: SshServer, tmp_path: Path, known: str
) -> None:
    marker = tmp_path / "ran"
    known_hosts = tmp_path / "known_hosts"
    other = asyncssh.generate_private_key("ssh-ed25519")
    known_hosts.write_text(known_hosts_line(server.port, other) if known == "changed" else "")
    with pytest.raises(HostKeyRejected) as refused:
        await runner(server, known_hosts).run(invocation("touch", str(marker)))
    assert "web-1" in refused.value.message
    assert refused.value.host == "web-1"
    assert "did not match" in refused.value.message
    assert not marker.exists()


async def test_an_unreachable_host_is_named(server: SshServer, tmp_path: Path) -> None:
    from tests.fixtures.servers import free_port

    with pytest.raises(HostUnreachable) as refused:
        await runner(server, port=free_port(), connect_timeout_s=5).run(invocation("true"))
    assert "web-1" in refused.value.message


async def test_a_timeout_kills_the_remote_process_group(server: SshServer, tmp_path: Path) -> None:
    tag = str(7_000_000 + secrets.randbelow(1_000_000))
    started = tmp_path / "started"
    script = f"sleep {tag}1 & sleep {tag}2 & touch {started}; echo up; wait"
    done = await runner(server).run(invocation("sh", "-c", script, timeout_s=4.0))
    assert done.timed_out
    assert done.exit_code is None
    assert started.exists()
    assert done.stdout == "up\n"
    assert await gone(f"sleep {tag}")


async def test_a_process_ignoring_term_is_killed(server: SshServer, tmp_path: Path) -> None:
    tag = str(8_000_000 + secrets.randbelow(1_000_000))
    started = tmp_path / "started"
    script = f"trap '' TERM; sleep {tag} & touch {started}; wait"
    run = SshRunner(server.host(), known_hosts=server.known_hosts, kill_grace_s=0.5)
    done = await run.run(invocation("sh", "-c", script, timeout_s=4.0))
    assert done.timed_out
    assert started.exists()
    assert await gone(f"sleep {tag}")


async def test_cancelling_kills_the_remote_process_group(server: SshServer, tmp_path: Path) -> None:
    tag = str(9_000_000 + secrets.randbelow(1_000_000))
    started = tmp_path / "started"
    script = f"sleep {tag} & touch {started}; wait"
    task = asyncio.ensure_future(runner(server).run(invocation("sh", "-c", script)))
    await until(started.exists)
    assert running(f"sleep {tag}")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(f"sleep {tag}")


async def test_each_run_is_a_completed_record(server: SshServer) -> None:
    done = await runner(server).run(invocation("printf", "%s", "hello"))
    assert isinstance(done, Completed)
    assert done.as_output()["stdout"] == "hello"
    assert done.as_output()["exit_code"] == 0
    assert not done.truncated
