"""pg_dump and pg_restore: found, their version checked against the server's, run bounded."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from triadops.actions.commands.invocation import Completed, Invocation
from triadops.actions.commands.local import LocalRunner
from triadops.domain.errors import ActionFailed
from triadops.settings import Settings

OUTPUT_LIMIT = 64 * 1024
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def find_tool(settings: Settings, name: str) -> str:
    """The path of `name` (``backups.pg_bin`` first, then PATH), or a clear error."""
    folder = settings.backups.pg_bin
    found = shutil.which(name, path=str(folder)) if folder else shutil.which(name)
    if found is None:
        where = f"in backups.pg_bin ({folder})" if folder else "on PATH"
        raise ActionFailed(
            f"{name} not found {where}: install the PostgreSQL client tools "
            "(Debian: postgresql-client) or set backups.pg_bin"
        )
    return found


def tool_major(text: str) -> int | None:
    """The major version in ``pg_dump (PostgreSQL) 15.2``'s line, or None."""
    found = _VERSION.search(text)
    return int(found.group(1)) if found else None


def server_major(version_num: int) -> int:
    """The major version of a ``server_version_num`` (150020 → 15; 90624 → 9)."""
    return version_num // 10_000


async def checked_tool(
    runner: LocalRunner, settings: Settings, name: str, *, server_version_num: int
) -> tuple[str, str]:
    """Find `name` and refuse it when older than the server; return (path, version line)."""
    path = find_tool(settings, name)
    done = await run_tool(runner, [path, "--version"], env={}, timeout_s=30.0)
    line = done.stdout.strip()
    major = tool_major(line)
    server = server_major(server_version_num)
    if done.exit_code != 0 or major is None:
        raise ActionFailed(f"{path} --version did not answer a PostgreSQL version: {line[:200]!r}")
    if major < server:
        raise ActionFailed(
            f"{name} {major} ({path}) is older than the server's PostgreSQL {server}: "
            f"install the client tools of version {server} or newer, or set backups.pg_bin"
        )
    return path, line


async def run_tool(
    runner: LocalRunner, argv: list[str], *, env: dict[str, str], timeout_s: float
) -> Completed:
    """Run one tool invocation (no shell, its group killed on timeout)."""
    return await runner.run(
        Invocation(
            argv=tuple(argv),
            env={"LANG": "C", "LC_ALL": "C", **env},
            cwd=None,
            timeout_s=timeout_s,
            output_limit=OUTPUT_LIMIT,
        )
    )


def failed(done: Completed, what: str) -> ActionFailed:
    """The error a failed tool run is: its last line of stderr, or its timeout."""
    if done.timed_out:
        return ActionFailed(f"{what} timed out after {done.duration_s:.0f} s")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    last = lines[-1].strip()[:300] if lines else f"exit code {done.exit_code}"
    return ActionFailed(f"{what} failed: {last}")


def in_folder(path: Path) -> str:
    """A path as a tool argument."""
    return str(path)
