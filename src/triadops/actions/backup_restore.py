"""A backup restored into an isolated scratch database, checked, and always removed.

SQLite: the file is copied into a temporary folder (hashed as it lands), checked with
``PRAGMA integrity_check`` and opened there; the block passes only once the hash matches.
PostgreSQL: a scratch database (``triad_restore_<random>``) is created on the source's
server, ``pg_restore`` fills it, and it is dropped when the block ends, however it ends.
Row counts are compared with the manifest in both.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.actions.backup_files import FollowedCopy, sha_problem
from triadops.actions.base import ActionContext
from triadops.actions.commands.local import LocalRunner
from triadops.actions.pg_tools import checked_tool, failed, run_tool
from triadops.domain.backups import BackupManifest, counts_differ
from triadops.domain.errors import ActionFailed
from triadops.storage import dumps, maintenance
from triadops.storage.engine import create_engine


@dataclass(slots=True)
class Restored:
    """A scratch copy of a backup: its engine, and what restoring it found."""

    engine: AsyncEngine
    where: str
    """The scratch file or database (gone once the block ends)."""
    row_counts: dict[str, int]
    checks: list[str] = field(default_factory=list)
    """What was checked and passed, in order."""


@asynccontextmanager
async def scratch_restore(
    ctx: ActionContext, manifest: BackupManifest, folder: Path, runner: LocalRunner
) -> AsyncIterator[Restored]:
    """Restore `manifest`'s backup from `folder` into a scratch database; remove it after.

    Fails, saying what differs, when the copy is unsound or its rows differ from the manifest.
    """
    if manifest.format == "sqlite":
        restoring = _sqlite(ctx, manifest, folder)
    else:
        restoring = _postgres(ctx, manifest, folder, runner)
    async with restoring as restored:
        differ = counts_differ(manifest.row_counts, restored.row_counts)
        if differ:
            raise ActionFailed(
                f"restored copy of {manifest.id} differs from its manifest: " + "; ".join(differ)
            )
        restored.checks.append(f"sha256 of {len(manifest.files)} files")
        restored.checks.append(f"row counts of {len(restored.row_counts)} tables as the manifest")
        yield restored


@asynccontextmanager
async def _sqlite(
    ctx: ActionContext, manifest: BackupManifest, folder: Path
) -> AsyncIterator[Restored]:
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="triad-restore-"))
    try:
        copy = scratch / "restored.sqlite"
        file = manifest.files[0]
        # Copied by the kernel; hashed in a second thread as each chunk lands in the copy
        # (what is restored is what was backed up). Integrity, counts and the caller's
        # checks run beside the hash's end; the block passes only once the hash matches,
        # and a copy whose hash differs is named as such, whatever else failed on it.
        copying = FollowedCopy(folder / file.name, copy)
        async with ctx.progress("restore", file.size_bytes) as meter:
            hashing = asyncio.ensure_future(asyncio.to_thread(copying.sha256, meter.add))
            try:
                await asyncio.to_thread(copying.copy)
            except BaseException:  # the copy's own error (a full disk), not a partial hash
                await asyncio.gather(hashing, return_exceptions=True)  # it stops with the copy
                raise
            try:
                counts = await _sound(manifest, copy)
                engine = create_engine(f"sqlite+aiosqlite:///{copy}", scratch=True)
                try:
                    yield Restored(engine, str(copy), counts, ["PRAGMA integrity_check: ok"])
                finally:
                    await engine.dispose()
            except BaseException:
                found = (await asyncio.gather(hashing, return_exceptions=True))[0]
                if isinstance(found, str):
                    _raise_unless_matches(manifest, found)
                raise
            _raise_unless_matches(manifest, await hashing)
            meter.complete()
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def _sound(manifest: BackupManifest, copy: Path) -> dict[str, int]:
    """The copy's row counts, once ``PRAGMA integrity_check`` passed (both read at once)."""
    problems, counts = await asyncio.gather(
        asyncio.to_thread(dumps.sqlite_integrity, copy),
        asyncio.to_thread(dumps.sqlite_counts, copy),
        return_exceptions=True,
    )
    if isinstance(problems, BaseException):
        raise problems
    if problems:
        raise ActionFailed(
            f"restored copy of {manifest.id} fails PRAGMA integrity_check: "
            + "; ".join(problems[:5])
        )
    if isinstance(counts, BaseException):
        raise counts
    return counts


def _raise_unless_matches(manifest: BackupManifest, found: str) -> None:
    """Fail naming the file when the restored copy's sha256 is not the manifest's."""
    file = manifest.files[0]
    if found != file.content_sha256:
        problem = sha_problem(file.name, found, file.content_sha256)
        raise ActionFailed(
            f"backup {manifest.id} failed verification: {problem.name}: {problem.problem}"
        ) from None


@asynccontextmanager
async def _postgres(
    ctx: ActionContext, manifest: BackupManifest, folder: Path, runner: LocalRunner
) -> AsyncIterator[Restored]:
    server = ctx.databases.get(manifest.source)
    if server.dialect.name != "postgresql":
        raise ActionFailed(
            f"backup {manifest.id} is a pg_dump; target {manifest.source} is not PostgreSQL now"
        )
    version = await dumps.pg_server_version(server)
    path, _ = await checked_tool(runner, ctx.settings, "pg_restore", server_version_num=version)
    name = f"triad_restore_{secrets.token_hex(6)}"
    await dumps.create_database(server, name)
    engine: AsyncEngine | None = None
    try:
        argv, env = dumps.libpq_params(server.url)
        done = await run_tool(
            runner,
            [
                path,
                "--no-password",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={name}",
                *argv,
                str(folder / manifest.files[0].name),
            ],
            env=env,
            timeout_s=ctx.settings.backups.timeout_s,
        )
        if done.exit_code != 0:
            raise failed(done, f"pg_restore of {manifest.id}")
        engine = create_engine(server.url.set(database=name).render_as_string(hide_password=False))
        counts = await maintenance.table_row_counts(engine)
        yield Restored(engine, f"database {name}", counts, ["pg_restore --exit-on-error: ok"])
    finally:
        if engine is not None:
            await engine.dispose()
        await asyncio.shield(dumps.drop_database(server, name))
