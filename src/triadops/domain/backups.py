"""A backup as people read it: its manifest, its files' checksums, what was proven of it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

BackupType = Literal["database"]
"""What a backup holds; only databases today (configurations, logs, system state to come)."""
MANIFEST_NAME = "manifest.json"
"""The manifest's file name, beside the backup's files in its folder."""
PARTIAL_SUFFIX = ".partial"
"""A file or folder still being written; renamed only when complete."""
MANIFEST_VERSION = 1


class BackupFile(BaseModel):
    """One file of a backup: its name in the backup's folder, size and checksum."""

    model_config = ConfigDict(frozen=True)

    name: str
    size_bytes: int
    sha256: str


class BackupManifest(BaseModel):
    """What a backup is, written beside its files and stored in the ``backups`` table."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    version: int = MANIFEST_VERSION
    id: str
    type: BackupType
    source: str
    """The database target backed up (``triad`` is triad's own)."""
    dialect: Literal["sqlite", "postgresql"]
    format: Literal["sqlite", "pg_dump_custom"]
    """How the file is written: a SQLite database file, or ``pg_dump -Fc``."""
    started_at: datetime
    finished_at: datetime
    duration_s: float
    size_bytes: int
    files: list[BackupFile]
    row_counts: dict[str, int]
    """Rows per table, counted in the snapshot the backup was taken from."""
    tools: dict[str, str]
    """The tools and versions that wrote it (SQLite library, pg_dump, the server)."""
    schema_revision: str | None = None
    """The Alembic revision of triad's own database when it was backed up (None for other
    targets, and for manifests written before the field): a restore refuses one newer than
    this code or than the target's schema."""
    status: Literal["complete"] = "complete"
    """Only a complete backup gets a manifest: its files were renamed into place first."""

    def checksum(self) -> str:
        """The manifest's own sha256 over its canonical JSON: it covers every file's."""
        data = self.model_dump(mode="json")
        if data.get("schema_revision") is None:
            del data["schema_revision"]  # a manifest from before the field keeps its checksum
        return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


class RestoreTest(BaseModel):
    """A passed recovery test, as the ledger records it."""

    tested_at: datetime
    checksum: str
    """The manifest checksum of the backup that was restored."""
    operation_id: str | None = None


class Backup(BaseModel):
    """A backup as listed and shown: its manifest and its last passed recovery test."""

    id: str
    type: BackupType
    source: str
    created_at: datetime
    size_bytes: int
    duration_s: float
    checksum: str
    operation_id: str | None
    manifest: BackupManifest
    restore_test: RestoreTest | None = None
    """The last passed recovery test; None when none has passed."""
    folder: str = ""
    """Where its files are."""

    @property
    def rate_bytes_per_s(self) -> float:
        """Bytes written per second of the backup's duration."""
        return self.size_bytes / self.duration_s if self.duration_s > 0 else 0.0


class FileProblem(BaseModel):
    """A backup file that fails verification: which, and why."""

    name: str
    problem: str


class Verification(BaseModel):
    """What checking a backup's files against its manifest found."""

    backup_id: str
    ok: bool
    files_checked: int = 0
    bytes_checked: int = 0
    problems: list[FileProblem] = Field(default_factory=list)


def counts_differ(expected: Mapping[str, int], found: Mapping[str, int]) -> list[str]:
    """Name every table whose rows differ between a manifest and a restored copy."""
    return [
        f"{table}: {expected.get(table)} in the manifest, {found.get(table)} restored"
        for table in sorted(set(expected) | set(found))
        if expected.get(table) != found.get(table)
    ]


class Kept(BaseModel):
    """What retention decides for one backup."""

    id: str
    created_at: datetime
    tested_at: datetime | None


def prunable(backups: list[Kept], *, cutoff: datetime) -> list[str]:
    """The backups older than `cutoff` that retention may delete, oldest first.

    Never the newest backup whose recovery test passed (Barman's ``minimum_redundancy``
    counts backups; this counts verified ones), nor the newest backup of all: retention
    never leaves nothing to restore.
    """
    ordered = sorted(backups, key=lambda b: (b.created_at, b.id))
    tested = [b for b in ordered if b.tested_at is not None]
    keep = {ordered[-1].id} if ordered else set()
    if tested:
        keep.add(tested[-1].id)
    return [b.id for b in ordered if b.created_at < cutoff and b.id not in keep]
