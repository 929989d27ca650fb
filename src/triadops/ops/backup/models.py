"""Backups as people read them, built from their rows in this one place."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.backups import LOCAL_STORE, Backup, BackupManifest, RestoreTest
from triadops.domain.errors import NotFound
from triadops.storage import backups as store
from triadops.storage.tables import BackupRow

LISTED = 100


def backup_of(row: BackupRow, root: Path) -> Backup:
    """The read model of one stored backup; its files are under `root`."""
    manifest = BackupManifest.model_validate(row.manifest)
    tested = (
        RestoreTest(
            tested_at=row.tested_at, checksum=row.tested_checksum, operation_id=row.tested_by
        )
        if row.tested_at is not None and row.tested_checksum is not None
        else None
    )
    return Backup(
        id=row.id,
        type=row.type,
        source=row.source,
        created_at=row.created_at,
        size_bytes=row.size_bytes,
        duration_s=row.duration_s,
        checksum=row.checksum,
        operation_id=row.operation_id,
        manifest=manifest,
        restore_test=tested,
        folder=kept_at(manifest, root),
    )


def kept_at(manifest: BackupManifest, root: Path) -> str:
    """Where a backup's files are: its folder under `root`, or its place in a bucket."""
    if manifest.store is None or manifest.store == LOCAL_STORE:
        return str(root / manifest.id)
    return f"{manifest.store}/{manifest.id}"


async def list_backups(
    session: AsyncSession, root: Path, *, type_: str | None = None, limit: int = LISTED
) -> list[Backup]:
    """The newest backups first, of one type when given."""
    rows = await store.list_backups(session, type_=type_, limit=limit)
    return [backup_of(row, root) for row in rows]


async def show_backup(session: AsyncSession, root: Path, backup_id: str) -> Backup:
    """One backup, or NotFound naming it."""
    row = await store.find_backup(session, backup_id)
    if row is None:
        raise NotFound(f"no backup {backup_id!r}: triad backup list shows them")
    return backup_of(row, root)
