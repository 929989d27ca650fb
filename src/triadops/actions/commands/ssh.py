"""The SSH runner: a declared command on a declared host, its key checked, its group killed.

The remote side needs a POSIX login shell and ``setsid`` (util-linux, on every Linux). The
command line sent is ``setsid -w sh -c WRAPPER sh ARGV...`` joined with `shlex.join`, so each
argument arrives as one argument. The wrapper prints its pid (which is the new process
group's id, since ``setsid`` made it a session leader), then reads the environment and working
directory as a script on stdin, then ``exec``s the command. Environment values therefore never
appear on a command line (``ps`` on the host, sshd's logs) and do not depend on the server's
``AcceptEnv``. On a timeout or a cancel, a second exec on the same connection sends SIGTERM to
that process group, waits for it to go (at most `kill_grace_s`), then SIGKILL: the remote
process and its children are gone, not only the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import re2

from triadops.actions.commands.invocation import Completed, Invocation
from triadops.domain.errors import ActionFailed
from triadops.settings.systems import HostSpec

__all__ = ["HostKeyRejected", "HostUnreachable", "SshRunner", "remote_command"]

_WRAPPER = 'echo "$$"; eval "$(cat)" || exit 125; exec "$@"'
"""Print the process group id, apply stdin's environment and directory, become the command."""
_ENV_NAME = re2.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHUNK = 64 * 1024
_MASK_OVERLAP = 4096
"""Bytes kept past the limit so a secret cut by it is still masked whole before the cut."""
_PID_WAIT_S = 5.0
"""How long a cancel waits for the wrapper's first line (the group id) before giving up."""
_SETTLE_S = 5.0
"""How long, after the kill, the streams may take to close so the output so far is kept."""


class HostKeyRejected(ActionFailed):
    """The host's SSH key is not the one known_hosts holds for it: nothing was run."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


class HostUnreachable(ActionFailed):
    """The SSH connection, login or session failed: nothing was run."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


def remote_command(argv: tuple[str, ...]) -> str:
    """Return the command line the remote login shell parses back into the wrapper and `argv`."""
    return shlex.join(["setsid", "-w", "sh", "-c", _WRAPPER, "sh", *argv])


def _stdin_script(env: Mapping[str, str], cwd: str | None) -> bytes:
    """Return the script the wrapper evaluates: exports, then the working directory."""
    lines = []
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ActionFailed(f"environment name {name!r} is not a shell variable name")
        lines.append(f"export {name}={shlex.quote(value)}")
    if cwd is not None:
        lines.append(f"cd -- {shlex.quote(cwd)}")
    return ("\n".join(lines) + "\n").encode()


class _Group:
    """The remote process group's id, once the wrapper has printed it."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.known = asyncio.Event()

    def set(self, pgid: int | None) -> None:
        self.pgid = pgid
        self.known.set()


@dataclass
class _Stream:
    """One output stream kept up to its limit (plus the masking overlap), the rest counted."""

    limit: int
    kept: bytearray
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = self.limit + _MASK_OVERLAP - len(self.kept)
        self.kept += chunk[: max(room, 0)]
        self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self, invocation: Invocation) -> tuple[str, bool]:
        """Return the masked text cut to the limit, and whether anything was cut."""
        masked = invocation.mask(bytes(self.kept).decode(errors="replace")).encode()
        cut = self.dropped > 0 or len(masked) > self.limit
        return masked[: self.limit].decode(errors="replace"), cut


async def _drain(reader: asyncssh.SSHReader[bytes], stream: _Stream) -> None:
    while chunk := await reader.read(_CHUNK):
        stream.add(chunk)


class SshRunner:
    """Run invocations on one declared host over SSH (a `Runner`)."""

    def __init__(
        self,
        host: HostSpec,
        *,
        known_hosts: Path,
        name: str | None = None,
        kill_grace_s: float = 2.0,
    ) -> None:
        self.host = host
        self.known_hosts = known_hosts
        self.name = name or f"{host.address}:{host.port}"
        self.kill_grace_s = kill_grace_s

    async def connect(self) -> asyncssh.SSHClientConnection:
        """Open a connection whose host key matched known_hosts, or raise naming the host."""
        keys: list[str] = [str(self.host.key_file)] if self.host.key_file else []
        try:
            return await asyncssh.connect(
                self.host.address,
                self.host.port,
                username=self.host.user,
                known_hosts=str(self.known_hosts),
                client_keys=keys,
                agent_path=None if keys else (),
                config=None,
                connect_timeout=self.host.connect_timeout_s,
                login_timeout=self.host.connect_timeout_s,
            )
        except asyncssh.HostKeyNotVerifiable:
            raise HostKeyRejected(
                f"host {self.name}: its SSH host key did not match {self.known_hosts} "
                "(unknown or changed key); nothing was run",
                host=self.name,
            ) from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            reason = type(exc).__name__ if isinstance(exc, TimeoutError) else str(exc)
            raise HostUnreachable(
                f"host {self.name}: SSH connection failed ({reason}); nothing was run",
                host=self.name,
            ) from None

    async def run(self, invocation: Invocation) -> Completed:
        """Run `invocation` on the host to its end or its timeout; cancelling kills it too."""
        started = time.monotonic()
        script = _stdin_script(invocation.env, invocation.cwd)
        conn = await self.connect()
        try:
            try:
                process = await conn.create_process(remote_command(invocation.argv), encoding=None)
            except (OSError, asyncssh.Error) as exc:
                raise HostUnreachable(
                    f"host {self.name}: the SSH session did not open ({exc}); nothing was run",
                    host=self.name,
                ) from None
            return await self._supervise(conn, process, invocation, script, started)
        finally:
            conn.close()
            await conn.wait_closed()

    async def _supervise(
        self,
        conn: asyncssh.SSHClientConnection,
        process: asyncssh.SSHClientProcess[bytes],
        invocation: Invocation,
        script: bytes,
        started: float,
    ) -> Completed:
        out = _Stream(invocation.output_limit, bytearray())
        err = _Stream(invocation.output_limit, bytearray())
        group = _Group()
        finished = asyncio.ensure_future(self._finish(process, script, out, err, group))
        try:
            exit_code: int | None = await asyncio.wait_for(
                asyncio.shield(finished), invocation.timeout_s
            )
            timed_out = False
        except TimeoutError:
            exit_code, timed_out = None, True
            if not await self._kill(conn, process, finished, group):
                raise ActionFailed(
                    f"host {self.name}: the command timed out after {invocation.timeout_s:g}s "
                    "and the kill could not be sent; it may still be running there"
                ) from None
        except asyncio.CancelledError:
            await self._kill(conn, process, finished, group)
            raise
        except (OSError, asyncssh.Error) as exc:
            raise ActionFailed(
                f"host {self.name}: the SSH connection broke while the command ran ({exc}); "
                "whether it finished is unknown",
            ) from None
        stdout, cut_out = out.text(invocation)
        stderr, cut_err = err.text(invocation)
        return Completed(
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            truncated=cut_out or cut_err,
            timed_out=timed_out,
            duration_s=time.monotonic() - started,
        )

    @staticmethod
    async def _finish(
        process: asyncssh.SSHClientProcess[bytes],
        script: bytes,
        out: _Stream,
        err: _Stream,
        group: _Group,
    ) -> int | None:
        """Feed the wrapper its script, note the group id, drain both streams, await the exit."""
        line = b""
        try:
            process.stdin.write(script)
            process.stdin.write_eof()
            line = await process.stdout.readline()
        finally:
            group.set(int(line) if line.strip().isdigit() else None)
        if group.pgid is None:
            out.add(line)
        await asyncio.gather(_drain(process.stdout, out), _drain(process.stderr, err))
        await process.wait()
        return process.returncode

    async def _kill(
        self,
        conn: asyncssh.SSHClientConnection,
        process: asyncssh.SSHClientProcess[bytes],
        finished: asyncio.Future[int | None],
        group: _Group,
    ) -> bool:
        """Kill the remote process group (TERM, grace, KILL) over a second exec, then close.

        Return False when the kill could not be sent (no group id, or no connection left).
        """
        if not group.known.is_set():
            # Cancelled before the wrapper's first line arrived: it comes within moments.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(group.known.wait(), _PID_WAIT_S)
        sent = False
        if group.pgid is not None:
            with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
                kill = self._kill_script(group.pgid)
                done = await conn.run(kill, check=False, timeout=self.kill_grace_s + 10)
                sent = done.returncode == 0
        await asyncio.wait({finished}, timeout=_SETTLE_S)
        finished.cancel()
        process.close()
        await asyncio.gather(finished, return_exceptions=True)
        return sent

    def _kill_script(self, pgid: int) -> str:
        """Return the command that ends group `pgid`: TERM, up to the grace, then KILL.

        ``kill -s SIG -- -PGID`` is the one spelling dash, bash and busybox all accept.
        """
        steps = max(int(self.kill_grace_s * 10), 1)
        group = f"-- -{pgid}"
        script = (
            f"kill -s TERM {group} 2>/dev/null || exit 0; i=0; "
            f"while kill -s 0 {group} 2>/dev/null && [ $i -lt {steps} ]; "
            "do sleep 0.1; i=$((i+1)); done; "
            f"kill -s KILL {group} 2>/dev/null; exit 0"
        )
        return shlex.join(["sh", "-c", script])
