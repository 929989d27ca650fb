"""``backup.database`` and ``backup.verify``: a database copied with a manifest, then checked.

SQLite through its online backup API in a thread (a reader: triad's write lock is never
taken); PostgreSQL through ``pg_dump -Fc`` from an exported snapshot, so the manifest's row
counts are exactly the dump's. Files go into ``<id>.partial`` and the folder is renamed
when complete; only then is the backup stored (``storage.backups``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.actions.backup_alerts import BACKUP_FAILED, first_line, report_outcome
from triadops.actions.backup_commands import declared_check
from triadops.actions.backup_files import NO_SPACE, describe, fsync_path, out_of_space
from triadops.actions.backup_store import backup_store, stored
from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.commands.invocation import Runner
from triadops.actions.commands.local import LocalRunner
from triadops.actions.pg_tools import checked_tool, failed, run_tool
from triadops.domain.backups import BackupFile, BackupManifest, Verification
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed, NotFound
from triadops.domain.operations import StepPreview, utcnow
from triadops.storage import dumps, maintenance
from triadops.storage.backups import backup_ids, read_manifest
from triadops.storage.schema_revisions import database_revision
from triadops.storage.targets import OWN_DATABASE

SQLITE_FILE = "database.sqlite"
PG_FILE = "database.dump"


class BackupParams(BaseModel):
    """Which database to back up."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    target: str = Field(default=OWN_DATABASE, min_length=1, max_length=100)
    """A configured database target; ``triad`` is triad's own database."""


class BackupIdParams(BaseModel):
    """Which backup to work on."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    backup_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    """A backup's id (``triad backup list``)."""


def new_backup_id(at: datetime) -> str:
    """A backup id: its start time, readable and sortable, and a random tail."""
    return f"db-{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class DatabaseBackupAction(Action[BackupParams]):
    """Back up a database into the backups folder, with its manifest."""

    name: ClassVar[str] = "backup.database"
    description: ClassVar[str] = (
        "Back up a database (SQLite: online backup API; PostgreSQL: pg_dump -Fc) into the "
        "backups folder with a manifest: sha256 of every file, row counts, tool versions"
    )
    params_model: ClassVar[type[BaseModel]] = BackupParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """It only reads the database; the backup it writes is kept, not undone."""
    idempotent: ClassVar[bool] = True
    """A resumed step takes a new backup and replaces the row the first attempt stored."""
    interruptible: ClassVar[bool] = False
    """SQLite's copy runs in a thread, which a cancel cannot stop: it waits for the step."""
    timeout_s: ClassVar[float] = 86_400.0
    """Above ``backups.timeout_s``, which bounds the copy itself."""

    def __init__(self, runner: LocalRunner | None = None) -> None:
        self.runner = runner or LocalRunner()

    async def preview(self, ctx: ActionContext, params: BackupParams) -> StepPreview:
        """Name the database, its size and where the backup goes."""
        engine = ctx.databases.get(params.target)
        size = await maintenance.database_size_bytes(engine)
        how = "SQLite's online backup" if engine.dialect.name == "sqlite" else "pg_dump -Fc"
        return StepPreview(
            summary=(
                f"back up {params.target} ({size} bytes) with {how} into "
                f"{backup_store(ctx.settings).where}"
            ),
            touches=[backup_store(ctx.settings).where, "triad.backups"],
            amounts={"bytes": size},
        )

    async def run(self, ctx: ActionContext, params: BackupParams) -> Output:
        """Back up; a failure fires ``TriadBackupFailed``, a success resolves it."""
        try:
            output = await self._backup(ctx, params)
        except Exception as exc:
            await report_outcome(
                ctx,
                BACKUP_FAILED,
                type_="database",
                failure=f"backup of {params.target} failed: {first_line(exc)}",
                about={"source": params.target},
            )
            raise
        alerts = await report_outcome(ctx, BACKUP_FAILED, type_="database", failure=None, about={})
        return output | {"alerts": alerts}

    async def _backup(self, ctx: ActionContext, params: BackupParams) -> Output:
        """Copy the database, write the manifest, rename into place, store; answer the figures."""
        engine = ctx.databases.get(params.target)
        store = backup_store(ctx.settings)
        removed = await store.prepare(await backup_ids(ctx.databases.get(OWN_DATABASE)))
        if removed:
            ctx.log.warning("leftovers of killed backups removed", removed=removed)
        started = utcnow()
        clock = time.perf_counter()
        backup_id = new_backup_id(started)
        revision = await database_revision(engine) if params.target == OWN_DATABASE else None
        partial = await store.start(backup_id)
        try:
            if engine.dialect.name == "sqlite":
                files, counts, tools = await self._sqlite(ctx, engine, partial)
                dialect, fmt = "sqlite", "sqlite"
            else:
                files, counts, tools = await self._postgres(ctx, engine, partial)
                dialect, fmt = "postgresql", "pg_dump_custom"
            duration = time.perf_counter() - clock
            manifest = BackupManifest(
                id=backup_id,
                type="database",
                source=params.target,
                dialect=dialect,
                format=fmt,
                started_at=started,
                finished_at=utcnow(),
                duration_s=round(duration, 3),
                size_bytes=sum(f.size_bytes for f in files),
                files=files,
                row_counts=counts,
                tools=tools,
                schema_revision=revision,
            )
            manifest = await store.publish(partial, manifest)
        except BaseException as exc:
            await asyncio.shield(store.discard(partial))  # nothing half-written stays
            if out_of_space(exc):
                raise ActionFailed(
                    f"backup folder {store.where}: {NO_SPACE} (the partial backup was removed, "
                    "nothing stored): free space or set backups.folder"
                ) from None
            raise
        await stored(ctx, store, partial, manifest)
        ctx.log.info("backup stored", backup_id=backup_id, size_bytes=manifest.size_bytes)
        return _figures(manifest, store.location(manifest.id))

    async def _sqlite(
        self, ctx: ActionContext, engine: AsyncEngine, partial: Path
    ) -> tuple[list[BackupFile], dict[str, int], dict[str, str]]:
        source = dumps.sqlite_file(engine)
        dest = partial / SQLITE_FILE
        total = await maintenance.database_size_bytes(engine)
        try:
            async with ctx.progress("copy", total, watch=dest) as meter:
                version = await asyncio.wait_for(
                    asyncio.to_thread(
                        dumps.sqlite_backup,
                        source,
                        dest,
                        pages=ctx.settings.backups.sqlite_pages_per_step,
                        synced=False,  # fsynced below, while it is hashed
                    ),
                    timeout=ctx.settings.backups.timeout_s,
                )
                meter.complete()
        except TimeoutError:
            raise ActionFailed(
                f"SQLite backup of {source} timed out after {ctx.settings.backups.timeout_s} s"
            ) from None
        # The copy is read three ways at once, each in its own thread: hashed, counted,
        # flushed to disk (SQLite left that to us, so the disk's write overlaps the hash;
        # the fsync before the rename finds nothing left to write).
        async with ctx.progress("hash", dest.stat().st_size) as meter:
            files, counts, _ = await asyncio.gather(
                describe(partial, [SQLITE_FILE], meter.add),
                asyncio.to_thread(dumps.sqlite_counts, dest),
                asyncio.to_thread(fsync_path, dest),
            )
            meter.complete()
        return files, counts, {"sqlite": version}

    async def _postgres(
        self, ctx: ActionContext, engine: AsyncEngine, partial: Path
    ) -> tuple[list[BackupFile], dict[str, int], dict[str, str]]:
        url = engine.url
        dest = partial / PG_FILE
        total = await maintenance.database_size_bytes(engine)
        async with dumps.pg_snapshot(engine) as snapshot:
            path, line = await checked_tool(
                self.runner, ctx.settings, "pg_dump", server_version_num=snapshot.server_version_num
            )
            argv, env = dumps.libpq_params(url)
            # The dump's size against the database's: an estimate (a dump compresses),
            # made exact when it ends.
            async with ctx.progress("dump", total, watch=dest) as meter:
                dumping = run_tool(
                    self.runner,
                    [
                        path,
                        "--format=custom",
                        "--no-password",
                        f"--snapshot={snapshot.name}",
                        f"--file={dest}",
                        *argv,
                        f"--dbname={url.database}",
                    ],
                    env=env,
                    timeout_s=ctx.settings.backups.timeout_s,
                )
                # Rows are counted in the exported snapshot while pg_dump reads it; a
                # failure of either cancels the other (the tool's process is killed).
                try:
                    async with asyncio.TaskGroup() as group:
                        dumped = group.create_task(dumping)
                        counted = group.create_task(snapshot.count_rows())
                except BaseExceptionGroup as failures:
                    raise failures.exceptions[0] from None
                done, counts = dumped.result(), counted.result()
                if done.exit_code != 0:
                    raise failed(done, "pg_dump")
                meter.complete()
            tools = {"pg_dump": line, "server_version_num": str(snapshot.server_version_num)}
        async with ctx.progress("hash", dest.stat().st_size) as meter:
            files, _ = await asyncio.gather(
                describe(partial, [PG_FILE], meter.add), asyncio.to_thread(fsync_path, dest)
            )
            meter.complete()
        return files, counts, tools


def _figures(manifest: BackupManifest, location: str) -> dict[str, JsonValue]:
    rate = manifest.size_bytes / manifest.duration_s if manifest.duration_s > 0 else 0.0
    return {
        "backup_id": manifest.id,
        "target": manifest.source,
        "checksum": manifest.checksum(),
        "folder": location,
        "size_bytes": manifest.size_bytes,
        "duration_s": manifest.duration_s,
        "rate_bytes_per_s": round(rate, 1),
        "tables": len(manifest.row_counts),
        "rows": sum(manifest.row_counts.values()),
        "row_counts": dict[str, JsonValue](manifest.row_counts),
    }


async def stored_manifest(ctx: ActionContext, backup_id: str) -> BackupManifest:
    """The stored manifest of `backup_id`, or NotFound naming it."""
    data = await read_manifest(ctx.databases.get(OWN_DATABASE), backup_id)
    if data is None:
        raise NotFound(f"no backup {backup_id!r}: triad backup list shows them")
    return BackupManifest.model_validate(data)


class VerifyBackupAction(Action[BackupIdParams]):
    """Check every file of a backup against its manifest's sha256."""

    name: ClassVar[str] = "backup.verify"
    description: ClassVar[str] = (
        "Check a backup's files against its manifest: each present, its size, its sha256"
    )
    params_model: ClassVar[type[BaseModel]] = BackupIdParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """It only reads."""
    idempotent: ClassVar[bool] = True
    timeout_s: ClassVar[float] = 86_400.0

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or LocalRunner()

    async def preview(self, ctx: ActionContext, params: BackupIdParams) -> StepPreview:
        """Name the backup and how many files and bytes would be read."""
        manifest = await stored_manifest(ctx, params.backup_id)
        return StepPreview(
            summary=(
                f"verify backup {manifest.id} of {manifest.source}: {len(manifest.files)} "
                f"files, {manifest.size_bytes} bytes"
            ),
            touches=[backup_store(ctx.settings).location(manifest.id)],
            amounts={"files": len(manifest.files), "bytes": manifest.size_bytes},
        )

    async def run(self, ctx: ActionContext, params: BackupIdParams) -> Output:
        """Verify; fail naming every file that is missing or differs."""
        manifest = await stored_manifest(ctx, params.backup_id)
        clock = time.perf_counter()
        async with ctx.progress("verify", manifest.size_bytes) as meter:
            found = await backup_store(ctx.settings).verify(manifest, on_bytes=meter.add)
            meter.complete()
        raise_unless_ok(found)
        ran = (
            await declared_check(ctx, manifest, "verify", self.runner)
            if manifest.format == "command"
            else []
        )
        return {
            "backup_id": manifest.id,
            "checksum": manifest.checksum(),
            "files_checked": found.files_checked,
            "bytes_checked": found.bytes_checked,
            **({"declared": ran} if ran else {}),
            "duration_s": round(time.perf_counter() - clock, 3),
        }


def raise_unless_ok(found: Verification) -> None:
    """Fail, naming each file and its problem, when verification found any."""
    if not found.ok:
        named = "; ".join(f"{p.name}: {p.problem}" for p in found.problems)
        raise ActionFailed(f"backup {found.backup_id} failed verification: {named}")
