"""The local runner: a declared argument list as a process group on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

from triadops.actions.commands.invocation import Completed, Invocation
from triadops.actions.commands.tether import tethered
from triadops.domain.errors import ActionFailed

__all__ = ["BASE_ENV", "KILL_GRACE_S", "TRUNCATED", "LocalRunner"]

BASE_ENV = ("PATH", "HOME", "LANG")
"""The only variables a command inherits from triad's own environment."""
KILL_GRACE_S = 2.0
"""Between SIGTERM and SIGKILL of a process group that outlived its timeout."""
TRUNCATED = "\n[triad: output truncated at {limit} bytes]\n"
_CHUNK = 64 * 1024


async def _read_bounded(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Keep the first `limit` bytes of `stream`, drain and drop the rest."""
    kept = bytearray()
    cut = False
    while chunk := await stream.read(_CHUNK):
        room = limit - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > room:
            cut = True
    return bytes(kept), cut


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalRunner:
    """Run an invocation here: an argument list (never a shell) in a new process group.

    The process sees a minimal environment: ``PATH``, ``HOME`` and ``LANG`` from triad's
    own, plus the variables the command declares. Nothing else of the parent environment
    (tokens, database URLs, keys) leaks into it. A timeout or a cancel kills the whole
    group: SIGTERM, a short grace, then SIGKILL, so grandchildren die too; whatever of the
    group outlives a leader that exited is killed the same way. On Linux the group also dies
    with the process that started it (`tether`): a SIGKILLed worker leaves no orphan.
    """

    def __init__(self, *, kill_grace_s: float = KILL_GRACE_S) -> None:
        self.kill_grace_s = kill_grace_s

    async def run(self, invocation: Invocation) -> Completed:
        """Run `invocation` to its end or its timeout; cancelling kills the group, then raises."""
        env = {k: os.environ[k] for k in BASE_ENV if k in os.environ}
        env.update(invocation.env)
        program = invocation.argv[0]
        started = time.perf_counter()
        try:
            process = await asyncio.create_subprocess_exec(
                *tethered(invocation.argv, env, invocation.cwd),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=invocation.cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            where = f" (working directory {invocation.cwd})" if invocation.cwd else ""
            raise ActionFailed(
                f"cannot run {program!r}: no such file or directory{where}"
            ) from None
        except PermissionError:
            raise ActionFailed(f"cannot run {program!r}: permission denied") from None
        except OSError as exc:
            raise ActionFailed(f"cannot run {program!r}: {exc.strerror or exc}") from None
        pgid = process.pid  # start_new_session: the child leads its own group
        assert process.stdout is not None and process.stderr is not None
        reading = asyncio.gather(
            _read_bounded(process.stdout, invocation.output_limit),
            _read_bounded(process.stderr, invocation.output_limit),
            process.wait(),
        )
        timed_out = False
        try:
            (out, out_cut), (err, err_cut), exit_code = await asyncio.wait_for(
                asyncio.shield(reading), timeout=invocation.timeout_s
            )
        except TimeoutError:
            timed_out = True
            await self._kill(pgid, process)
            (out, out_cut), (err, err_cut), _ = await reading
            exit_code = None
        except asyncio.CancelledError:
            await asyncio.shield(self._kill(pgid, process))
            reading.cancel()
            raise
        # The leader is gone; its group may not be (a child that daemonised): kill it too.
        if _group_alive(pgid):
            await self._kill(pgid, process)
        return Completed(
            exit_code=exit_code,
            stdout=_text(out, out_cut, invocation),
            stderr=_text(err, err_cut, invocation),
            truncated=out_cut or err_cut,
            timed_out=timed_out,
            duration_s=time.perf_counter() - started,
        )

    async def _kill(self, pgid: int, process: asyncio.subprocess.Process) -> None:
        """SIGTERM the group, wait up to the grace, then SIGKILL it and reap the leader."""
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.perf_counter() + self.kill_grace_s
        while _group_alive(pgid) and time.perf_counter() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), timeout=0.05)
        _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            await process.wait()


def _text(data: bytes, cut: bool, invocation: Invocation) -> str:
    text = data.decode("utf-8", errors="replace")
    if cut:
        text += TRUNCATED.format(limit=invocation.output_limit)
    return invocation.mask(text)
