"""pg_amcheck on a restored scratch database: heap and B-tree index corruption, if installed.

Found like pg_dump (``backups.pg_bin``, then PATH), and also where Debian ships it with the
server, ``/usr/lib/postgresql/<major>/bin``. It needs the ``amcheck`` extension in the
database it checks; a recovery test creates it in its scratch database (which it drops
after). Absent, the recovery test records ``pg_amcheck: not installed`` and goes on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.actions.commands.local import LocalRunner
from triadops.actions.pg_tools import failed, run_tool, server_major
from triadops.domain.errors import ActionFailed
from triadops.settings import Settings
from triadops.storage import dumps
from triadops.storage.amcheck import create_amcheck

DEBIAN = Path("/usr/lib/postgresql")
LISTED = 5
"""Corruption lines named in a failure."""


def find_amcheck(settings: Settings, major: int, *, debian: Path = DEBIAN) -> str | None:
    """The path of pg_amcheck: backups.pg_bin, PATH, then the server's Debian folder; or None."""
    folder = settings.backups.pg_bin
    if folder is not None:
        return shutil.which("pg_amcheck", path=str(folder))
    found = shutil.which("pg_amcheck")
    if found is not None:
        return found
    majors = sorted(
        (int(p.name) for p in debian.glob("*") if p.name.isdigit() and int(p.name) >= major),
        key=lambda m: (m != major, m),  # the server's own major first, else the nearest newer
    )
    for candidate in majors:
        path = debian / str(candidate) / "bin" / "pg_amcheck"
        if path.is_file():
            return str(path)
    return None


async def amcheck(
    runner: LocalRunner, settings: Settings, scratch: AsyncEngine, *, debian: Path = DEBIAN
) -> str:
    """Check the scratch database with pg_amcheck; the line the recovery test records.

    Fails naming the first corruption lines pg_amcheck prints.
    """
    major = server_major(await dumps.pg_server_version(scratch))
    path = find_amcheck(settings, major, debian=debian)
    if path is None:
        return "pg_amcheck: not installed"
    await create_amcheck(scratch)
    url = scratch.url
    argv, env = dumps.libpq_params(url)
    done = await run_tool(
        runner,
        [path, "--no-password", "--heapallindexed", *argv, str(url.database)],
        env=env,
        timeout_s=settings.backups.timeout_s,
    )
    if done.timed_out or (done.exit_code != 0 and not done.stdout.strip()):
        raise failed(done, "pg_amcheck")
    if done.exit_code != 0:
        found = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        raise ActionFailed(
            f"pg_amcheck found corruption in database {url.database}: " + "; ".join(found[:LISTED])
        )
    return "pg_amcheck --heapallindexed: ok"
