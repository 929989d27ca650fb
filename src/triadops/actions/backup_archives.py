"""``backup.configurations``, ``backup.logs``, ``backup.system_state``: archive backups.

Each writes one ``<type>.tar.zst`` into the store's partial folder (compressed in a thread,
streamed), lists every member in the manifest (name, path, size, sha256, mode), then
publishes and stores the backup exactly as ``backup.database`` does. Configurations and
logs archive configured paths (``backups.configurations``, ``backups.logs``); system state
exports triad's own tables from one read snapshot (``storage.state_export``), with the rows
of each export in the manifest.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sqlite3
import sys
import time
from abc import abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import zstandard
from pydantic import BaseModel, ConfigDict, JsonValue

from triadops.actions.backup_alerts import BACKUP_FAILED, first_line, report_outcome
from triadops.actions.backup_archive import archive_exports, archive_files
from triadops.actions.backup_files import describe
from triadops.actions.backup_paths import collect
from triadops.actions.backup_store import backup_store, stored
from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.procedures.catalogue import folders as procedure_folders
from triadops.domain.backups import ArchiveMember, BackupManifest, BackupType, Skipped
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed
from triadops.domain.operations import StepPreview, utcnow
from triadops.settings import Settings
from triadops.settings.backups import ArchiveSettings
from triadops.settings.files import config_file
from triadops.storage.backups import backup_ids
from triadops.storage.state_export import export_name, export_state
from triadops.storage.targets import OWN_DATABASE

PREFIXES: dict[str, str] = {"configurations": "cfg", "logs": "logs", "system_state": "state"}
STAGING = "staging"
"""A folder inside the partial backup for exports before they are archived; removed
before the backup is published."""


class NoParams(BaseModel):
    """Nothing to choose: the settings say what each type takes."""

    model_config = ConfigDict(extra="forbid")


def archive_backup_id(type_: str, at: datetime) -> str:
    """A backup id: the type's prefix, its start time, and a random tail."""
    return f"{PREFIXES.get(type_, type_)}-{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def archive_file(type_: str) -> str:
    """The archive's file name in the backup's folder."""
    return f"{type_}.tar.zst"


@dataclass(slots=True)
class Written:
    """What writing an archive produced."""

    members: list[ArchiveMember]
    skipped: list[Skipped] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    dialect: str | None = None


def _tools() -> dict[str, str]:
    return {
        "zstandard": zstandard.__version__,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
    }


class ArchiveBackupAction(Action[NoParams]):
    """Back up into one zstandard-compressed tar archive with a member list."""

    type_: ClassVar[BackupType]
    params_model: ClassVar[type[BaseModel]] = NoParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """It only reads; the backup it writes is kept, not undone."""
    idempotent: ClassVar[bool] = True
    """A resumed step takes a new backup and replaces the row the first attempt stored."""
    timeout_s: ClassVar[float] = 86_400.0

    @abstractmethod
    async def _write(self, ctx: ActionContext, archive: Path, partial: Path) -> Written:
        """Write the archive at `archive` (`partial` is the backup's folder)."""

    async def run(self, ctx: ActionContext, params: NoParams) -> Output:
        """Back up; a failure fires ``TriadBackupFailed`` for the type, a success resolves it."""
        try:
            output = await self._backup(ctx)
        except Exception as exc:
            await report_outcome(
                ctx,
                BACKUP_FAILED,
                type_=self.type_,
                failure=f"{self.type_} backup failed: {first_line(exc)}",
                about={"source": OWN_DATABASE},
            )
            raise
        alerts = await report_outcome(ctx, BACKUP_FAILED, type_=self.type_, failure=None, about={})
        return output | {"alerts": alerts}

    async def _backup(self, ctx: ActionContext) -> Output:
        store = backup_store(ctx.settings)
        removed = await store.prepare(await backup_ids(ctx.databases.get(OWN_DATABASE)))
        if removed:
            ctx.log.warning("partial backups removed", removed=removed)
        started = utcnow()
        clock = time.perf_counter()
        backup_id = archive_backup_id(self.type_, started)
        partial = await store.start(backup_id)
        name = archive_file(self.type_)
        try:
            written = await self._write(ctx, partial / name, partial)
            files = await describe(partial, [name])
            manifest = BackupManifest(
                id=backup_id,
                type=self.type_,
                source=OWN_DATABASE,
                dialect=written.dialect,
                format="tar_zst",
                started_at=started,
                finished_at=utcnow(),
                duration_s=round(time.perf_counter() - clock, 3),
                size_bytes=sum(f.size_bytes for f in files),
                files=files,
                row_counts=written.row_counts,
                tools=_tools(),
                members=written.members,
                skipped=written.skipped,
            )
            manifest = await store.publish(partial, manifest)
        except BaseException:
            await asyncio.shield(store.discard(partial))  # nothing half-written stays
            raise
        await stored(ctx, store, partial, manifest)
        for s in written.skipped:
            ctx.log.warning("left out of the backup", path=s.path, reason=s.reason)
        ctx.log.info("backup stored", backup_id=backup_id, size_bytes=manifest.size_bytes)
        return archive_figures(manifest, store.location(manifest.id))


def archive_figures(manifest: BackupManifest, location: str) -> dict[str, JsonValue]:
    """The step's output: the backup, its checksum, sizes and what was left out."""
    members = manifest.members or []
    rate = manifest.size_bytes / manifest.duration_s if manifest.duration_s > 0 else 0.0
    return {
        "backup_id": manifest.id,
        "type": manifest.type,
        "checksum": manifest.checksum(),
        "folder": location,
        "size_bytes": manifest.size_bytes,
        "duration_s": manifest.duration_s,
        "rate_bytes_per_s": round(rate, 1),
        "members": len(members),
        "member_bytes": sum(m.size_bytes for m in members),
        "left_out": [s.model_dump() for s in manifest.skipped or []],
        "row_counts": dict[str, JsonValue](manifest.row_counts),
    }


def default_paths(type_: str, settings: Settings) -> list[str]:
    """The paths a type takes when ``paths`` is unset (only those that exist are used)."""
    if type_ == "logs":
        found = [settings.log_dir, *settings.log_dirs]
    else:
        named = config_file()
        found = [*([named] if named is not None else []), *procedure_folders(settings)]
    return [str(p.expanduser().absolute()) for p in found]


class FilesBackupAction(ArchiveBackupAction):
    """Archive configured paths (globs allowed); links followed only inside them."""

    def section(self, settings: Settings) -> ArchiveSettings:
        """Return the settings of this type."""
        found: ArchiveSettings = getattr(settings.backups, self.type_)
        return found

    def paths(self, settings: Settings) -> tuple[list[str], bool]:
        """The configured paths, or the defaults; and whether they were configured."""
        section = self.section(settings)
        if section.paths is not None:
            return list(section.paths), True
        return default_paths(self.type_, settings), False

    async def preview(self, ctx: ActionContext, params: NoParams) -> StepPreview:
        """Name the paths and where the archive goes."""
        paths, _ = self.paths(ctx.settings)
        where = backup_store(ctx.settings).where
        return StepPreview(
            summary=(
                f"archive {len(paths)} {self.type_} paths ({', '.join(paths) or 'none'}) "
                f"with zstandard into {where}"
            ),
            touches=[where, "triad.backups"],
            amounts={"paths": len(paths)},
        )

    async def _write(self, ctx: ActionContext, archive: Path, partial: Path) -> Written:
        section = self.section(ctx.settings)
        paths, configured = self.paths(ctx.settings)
        fail = section.unreadable == "fail"
        sources, skipped = await asyncio.to_thread(
            collect,
            paths,
            exclude=section.exclude,
            leave_out=[ctx.settings.backup_folder],
            required=configured,
        )
        if fail and skipped:
            named = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5])
            raise ActionFailed(
                f'{self.type_} backup: {named} (backups.{self.type_}.unreadable = "fail"; '
                'set it to "skip" to leave such paths out)'
            )
        members, unread = await asyncio.to_thread(
            archive_files, archive, sources, level=section.level, fail_unreadable=fail
        )
        return Written(members=members, skipped=skipped + unread)


class ConfigurationsBackupAction(FilesBackupAction):
    """Archive triad's settings and procedure files, or the configured paths."""

    name: ClassVar[str] = "backup.configurations"
    type_: ClassVar[BackupType] = "configurations"
    description: ClassVar[str] = (
        "Archive configuration files (backups.configurations.paths; default triad's settings "
        "file and procedure folders) with zstandard, every member's sha256 in the manifest"
    )


class LogsBackupAction(FilesBackupAction):
    """Archive triad's log folders, or the configured paths."""

    name: ClassVar[str] = "backup.logs"
    type_: ClassVar[BackupType] = "logs"
    description: ClassVar[str] = (
        "Archive log files (backups.logs.paths; default triad's log folders) with "
        "zstandard, every member's sha256 in the manifest"
    )


class SystemStateBackupAction(ArchiveBackupAction):
    """Export triad's operations, alerts, health and ledger from one snapshot, archived."""

    name: ClassVar[str] = "backup.system_state"
    type_: ClassVar[BackupType] = "system_state"
    description: ClassVar[str] = (
        "Export triad's operations, alerts, health reports and ledger as JSON lines from one "
        "read snapshot (no write lock), archived with zstandard, rows per export in the manifest"
    )

    async def preview(self, ctx: ActionContext, params: NoParams) -> StepPreview:
        """Name what is exported and where it goes."""
        where = backup_store(ctx.settings).where
        return StepPreview(
            summary=(
                "export triad's operations, steps, approvals, alerts, silences, health "
                f"reports and ledger from one read snapshot, archived into {where}"
            ),
            touches=[where, "triad.backups"],
        )

    async def _write(self, ctx: ActionContext, archive: Path, partial: Path) -> Written:
        engine = ctx.databases.get(OWN_DATABASE)
        staging = partial / STAGING
        await asyncio.to_thread(staging.mkdir)
        try:
            counts = await export_state(engine, staging)
            files = [(export_name(t), staging / export_name(t)) for t in sorted(counts)]
            members = await asyncio.to_thread(
                archive_exports, archive, files, level=ctx.settings.backups.system_state.level
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        return Written(members=members, row_counts=counts, dialect=engine.dialect.name)
