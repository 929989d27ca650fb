"""A backup as people read it: its manifest, its files' checksums, what was proven of it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

BackupType = Literal["database", "configurations", "logs", "system_state", "command"]
"""What a backup holds: a database, an archive of configured files (configurations, logs),
triad's own state exported (system_state), or what a declared command took (command)."""
BACKUP_TYPES: tuple[BackupType, ...] = (
    "database",
    "configurations",
    "logs",
    "system_state",
    "command",
)
ARCHIVE_TYPES: tuple[BackupType, ...] = ("configurations", "logs", "system_state")
"""The types written as one ``tar_zst`` archive with a member list."""
MANIFEST_NAME = "manifest.json"
"""The manifest's file name, beside the backup's files in its folder."""
PARTIAL_SUFFIX = ".partial"
"""A file or folder still being written; renamed only when complete."""
MANIFEST_VERSION = 1
LOCAL_STORE = "local"
"""The ``store`` of a backup kept in the local backups folder (also what no ``store`` means)."""


class BackupFile(BaseModel):
    """One file of a backup: its name in the backup's folder, size and checksum."""

    model_config = ConfigDict(frozen=True)

    name: str
    size_bytes: int
    """As stored (encrypted, when the backup is)."""
    sha256: str
    """Of the file as stored: verifying needs no key."""
    plain_size_bytes: int | None = None
    """Of the decrypted file, when the backup is encrypted."""
    plain_sha256: str | None = None
    """Of the decrypted file, when the backup is encrypted; checked after decrypting."""

    @property
    def content_sha256(self) -> str:
        """The sha256 of the file as readers get it (``BackupStore.readable``: decrypted)."""
        return self.plain_sha256 or self.sha256


class BackupEncryption(BaseModel):
    """How a backup's files are encrypted: never the key, only which key."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    algorithm: Literal["aes-256-gcm"] = "aes-256-gcm"
    format: int = 1
    """The chunked file format's version (``actions.backup_cipher``)."""
    key_id: str
    """A short hash of the key, so a wrong key is recognised before decrypting."""
    chunk_bytes: int
    """Plaintext bytes per chunk; each chunk has its own nonce and tag."""


class ArchiveMember(BaseModel):
    """One file inside a backup's archive: what a recovery test compares after extracting."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    name: str
    """Its name in the archive: a relative path, never absolute nor with ``..``."""
    path: str
    """Where it was read from (an absolute path, or the export it is)."""
    size_bytes: int
    sha256: str
    mode: int
    """Its permission bits as archived (``0o644`` is 420)."""


class Skipped(BaseModel):
    """A configured path left out of an archive, and why (unreadable, gone, a link out)."""

    model_config = ConfigDict(frozen=True)

    path: str
    reason: str


class CommandRun(BaseModel):
    """What a declared backup command did: its argv, exit, duration and output's end."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    command: str
    """The declared command (``[commands.<name>]``) that took the backup."""
    argv: list[str]
    """As run, secrets masked."""
    exit_code: int | None
    duration_s: float
    output_tail: str
    """The end of its stdout and stderr, masked and bounded."""


class BackupManifest(BaseModel):
    """What a backup is, written beside its files and stored in the ``backups`` table."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    version: int = MANIFEST_VERSION
    id: str
    type: BackupType
    source: str
    """The database target backed up (``triad`` is triad's own)."""
    dialect: Literal["sqlite", "postgresql"] | None = None
    """The database's dialect; None for files and commands."""
    format: Literal["sqlite", "pg_dump_custom", "tar_zst", "command"]
    """How the files are written: a SQLite database file, ``pg_dump -Fc``, one tar archive
    compressed with zstandard, or whatever a declared command wrote (``command``)."""
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
    store: str | None = None
    """Where it is kept: ``local`` (the backups folder; also None) or ``s3://bucket/prefix``."""
    encryption: BackupEncryption | None = None
    """How its files are encrypted; None: they are not."""
    members: list[ArchiveMember] | None = None
    """For a ``tar_zst`` backup: every file in its archive, with size, sha256 and mode."""
    skipped: list[Skipped] | None = None
    """For a ``tar_zst`` backup: configured paths left out, each with its reason."""
    command: CommandRun | None = None
    """For a ``command`` backup: how its declared command ran."""

    def checksum(self) -> str:
        """The manifest's own sha256 over its canonical JSON: it covers every file's.

        Unset optional fields are left out, so manifests written before they existed keep
        the checksum they were stored and tested with.
        """
        data = self.model_dump(mode="json", exclude_none=True)
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
