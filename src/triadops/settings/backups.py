"""The backups section: what each type holds, how long it is kept, where and how it is stored."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triadops.domain.parameters import NAME
from triadops.settings.smoke_queries import SmokeQuery, unique_names
from triadops.settings.systems import CommandSpec

KeepDays = Annotated[int, Field(ge=1, le=36_500)]
Unreadable = Literal["fail", "skip"]


class ArchiveSettings(BaseModel):
    """An archive backup type: the paths it takes, and how long its backups are kept."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    keep_days: KeepDays
    """Backups of this type older than this are pruned, but never the newest one whose
    recovery test passed, nor the newest of all."""
    paths: list[str] | None = Field(default=None, max_length=1000)
    """Files and folders to archive (folders whole); ``*``, ``?``, ``[...]`` and ``**``
    globs allowed. Unset: the type's defaults. A link is followed only when what it points
    to is inside one of these paths; a link to a folder never is."""
    exclude: list[str] = Field(default_factory=list, max_length=1000)
    """Glob patterns (fnmatch, on the full path) of files to leave out. The backups folder
    is always left out."""
    unreadable: Unreadable = "skip"
    """A file that cannot be read, a link out of the paths, or a configured path that
    matches nothing: ``skip`` it, recorded with its reason in the manifest, or ``fail``
    the backup naming it."""
    level: int = Field(default=3, ge=1, le=19)
    """The zstandard compression level."""

    @field_validator("paths")
    @classmethod
    def _absolute(cls, value: list[str] | None) -> list[str] | None:
        for path in value or []:
            if not Path(path).expanduser().is_absolute():
                raise ValueError(f"{path!r} is not an absolute path")
        return value


class ConfigurationsSettings(ArchiveSettings):
    """The ``configurations`` type: default triad's settings file and procedure folders."""

    keep_days: KeepDays = 90
    """Configuration backups older than this are pruned (never the newest verified one)."""
    unreadable: Unreadable = "fail"
    """A configuration backup missing a file is no backup of the configuration: fail."""


class LogsSettings(ArchiveSettings):
    """The ``logs`` type: default triad's log folders (``$TRIAD_HOME/logs``, ``log_dirs``)."""

    keep_days: KeepDays = 7
    """Log backups older than this are pruned (never the newest verified one)."""


class StateSettings(BaseModel):
    """The ``system_state`` type: triad's own operations, alerts, health and ledger."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    keep_days: KeepDays = 14
    """System state backups older than this are pruned (never the newest verified one)."""
    level: int = Field(default=3, ge=1, le=19)
    """The zstandard compression level."""


class CommandBackup(BaseModel):
    """A backup taken by a declared command (pgBackRest, Barman): triad orchestrates it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: Annotated[str, Field(pattern=NAME)]
    """The backup's source name (``triad backup run command --name NAME``)."""
    backup: Annotated[str, Field(pattern=NAME)]
    """The declared command (``[commands.<name>]``) that takes the backup. It runs with
    ``TRIAD_BACKUP_DIR`` set to an empty folder: what it writes there is kept with the
    backup, each file's sha256 in the manifest; with nothing written, only its exit and
    output are recorded."""
    verify: Annotated[str, Field(pattern=NAME)] | None = None
    """The declared command that verifies a backup (``pgbackrest verify``), after the kept
    files' checksums; ``TRIAD_BACKUP_DIR`` holds them, ``TRIAD_BACKUP_ID`` names it."""
    restore_test: Annotated[str, Field(pattern=NAME)]
    """The declared command that restores a backup somewhere scratch and checks it; it
    gets ``TRIAD_BACKUP_DIR``, ``TRIAD_BACKUP_ID`` and ``TRIAD_SCRATCH_DIR``, an empty
    folder removed after. Exit 0 passes the recovery test."""
    keep_days: KeepDays = 30
    """Triad's records of this command's backups older than this are pruned (never the
    newest verified one); the tool's own retention keeps its own backups."""


ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
"""An environment variable's name: settings name the variable, never hold the secret."""


class S3StoreSettings(BaseModel):
    """An S3-compatible bucket that complete backups are uploaded to."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    """The bucket's name; it must exist."""
    prefix: str = Field(default="triad", max_length=200, pattern=r"^[A-Za-z0-9_.\-/]*$")
    """Where under the bucket backups go, one ``<prefix>/<id>/`` each."""
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s/@]+(/.*)?$")
    """An S3-compatible server (MinIO, Ceph, Garage...); default AWS itself. ``http://`` is
    allowed for a server on a private network."""
    region: str = Field(default="us-east-1", min_length=1, max_length=40)
    """The bucket's region (most S3-compatible servers accept any)."""
    access_key_env: str = Field(default="AWS_ACCESS_KEY_ID", pattern=ENV_NAME)
    """The environment variable holding the access key id (never this file)."""
    secret_key_env: str = Field(default="AWS_SECRET_ACCESS_KEY", pattern=ENV_NAME)
    """The environment variable holding the secret access key (never this file)."""
    session_token_env: str = Field(default="AWS_SESSION_TOKEN", pattern=ENV_NAME)
    """The environment variable holding a session token, used when it is set."""
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """The most one request that moves no file (list, head, delete, the manifest) may take,
    retries included; a file's upload or download is bounded by ``backups.timeout_s``."""
    connect_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """The most connecting to the server may take."""
    retries: int = Field(default=2, ge=0, le=10)
    """How often a failed request is retried (connection errors, 5xx), with backoff."""
    part_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024, le=1024**3)
    """The size of each part of a multipart upload (S3's least is 5 MiB)."""

    @property
    def uri(self) -> str:
        """``s3://bucket/prefix``, as manifests record where a backup is kept."""
        prefix = self.prefix.strip("/")
        return f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"


class BackupSettings(BaseModel):
    """Backups: their folder, each type's contents and retention, the tools' bounds."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    folder: Path | None = None
    """Where backups are written, one subfolder each; default ``$TRIAD_HOME/backups``. With
    ``s3`` set, only the spool a backup is written to before it is uploaded."""
    keep_days: KeepDays = 30
    """Database backups older than this are pruned (``triad backup prune``), but never the
    newest one whose recovery test passed, nor the newest of all."""
    timeout_s: float = Field(default=3600.0, gt=0, le=86_400)
    """The most one dump or restore (pg_dump, pg_restore, SQLite's backup) may take, and one
    file's upload to or download from ``s3``."""
    sqlite_pages_per_step: int = Field(default=0, ge=0, le=1_000_000)
    """Pages SQLite's online backup copies per step; 0 (the default): all in one step.

    One step reads one snapshot: in WAL mode writers go on meanwhile, and no write can
    restart the copy (checkpoints wait for it, so the WAL grows while it runs). With N
    pages per step the snapshot ends between steps, but SQLite restarts the copy from the
    first page whenever another connection writes to the database, which triad's own
    writes (heartbeats, the step's progress) do every second on a busy server."""
    leftover_grace_s: float = Field(default=3600.0, ge=1, le=30 * 86_400)
    """How old a complete backup folder that no stored backup names must be before the next
    backup removes it (what a backup killed between its rename and its row left); younger,
    it may be a concurrent backup about to store its row."""
    pg_bin: Path | None = None
    """A folder holding pg_dump and pg_restore; default: found on PATH."""
    s3: S3StoreSettings | None = None
    """Keep backups in an S3-compatible bucket instead of the folder; None: the folder."""
    encrypt: bool = False
    """Encrypt new backups' files (AES-256-GCM) with the key in ``key_env``."""
    key_env: str = Field(default="TRIAD_BACKUP_KEY", pattern=ENV_NAME)
    """The environment variable holding the backup key: 32 random bytes in base64. Read to
    encrypt (with ``encrypt``) and to restore encrypted backups; never stored or logged."""
    configurations: ConfigurationsSettings = Field(default_factory=ConfigurationsSettings)
    logs: LogsSettings = Field(default_factory=LogsSettings)
    system_state: StateSettings = Field(default_factory=StateSettings)
    commands: list[CommandBackup] = Field(default_factory=list, max_length=100)
    """Backups taken by declared commands, one entry per tool."""
    smoke_queries: list[SmokeQuery] = Field(default_factory=list)
    """Read-only SELECTs a recovery test runs on the restored copy of their target, each in
    a read-only transaction with its timeout (``[[backups.smoke_queries]]``); one that
    fails or answers other than expected fails the test, naming it."""

    @model_validator(mode="after")
    def _smoke_queries_unique(self) -> BackupSettings:
        twice = unique_names(self.smoke_queries)
        if twice:
            raise ValueError("; ".join(twice))
        return self

    @field_validator("commands")
    @classmethod
    def _unique(cls, value: list[CommandBackup]) -> list[CommandBackup]:
        names = [c.name for c in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"backup command {twice[0]!r} is declared twice")
        return value

    def command(self, name: str) -> CommandBackup | None:
        """The backup command named `name`, or None."""
        return next((c for c in self.commands if c.name == name), None)

    def keep_days_of(self, type_: str, source: str) -> int:
        """How many days backups of `type_` (and, for commands, `source`) are kept."""
        match type_:
            case "configurations":
                return self.configurations.keep_days
            case "logs":
                return self.logs.keep_days
            case "system_state":
                return self.system_state.keep_days
            case "command":
                declared = self.command(source)
                return declared.keep_days if declared is not None else self.keep_days
        return self.keep_days


def check_backup_commands(backups: BackupSettings, commands: Mapping[str, CommandSpec]) -> None:
    """Raise ValueError, naming the key, when a backup command is not a usable declaration.

    Each must be declared, run on this machine (its files come back here) and need no
    parameter without a default.
    """
    for i, entry in enumerate(backups.commands):
        for role in ("backup", "verify", "restore_test"):
            name = getattr(entry, role)
            if name is None:
                continue
            key = f"backups.commands[{i}].{role}"
            spec = commands.get(name)
            if spec is None:
                declared = ", ".join(sorted(commands)) or "none"
                raise ValueError(
                    f"{key}: no command {name!r} is declared "
                    f"(declare [commands.{name}]; declared: {declared})"
                )
            if spec.hosts or spec.host_tags:
                raise ValueError(f"{key}: commands.{name} runs on hosts; a backup's runs here")
            needed = sorted(n for n, p in spec.params.items() if p.default is None)
            if needed:
                raise ValueError(
                    f"{key}: commands.{name} needs {', '.join(needed)}; a backup command "
                    "takes no parameter, give each a default"
                )
