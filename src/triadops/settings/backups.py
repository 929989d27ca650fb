"""The backups section: where backup files go, how long the tools may take, and encryption."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

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
    """Database backups: their folder, the dump and restore tools' bounds."""

    folder: Path | None = None
    """Where backups are written, one subfolder each; default ``$TRIAD_HOME/backups``. With
    ``s3`` set, only the spool a backup is written to before it is uploaded."""
    keep_days: int = Field(default=30, ge=1, le=36_500)
    """Database backups older than this are pruned (``triad backup prune``), but never the
    newest one whose recovery test passed, nor the newest of all."""
    timeout_s: float = Field(default=3600.0, gt=0, le=86_400)
    """The most one dump or restore (pg_dump, pg_restore, SQLite's backup) may take, and one
    file's upload to or download from ``s3``."""
    sqlite_pages_per_step: int = Field(default=4096, ge=1, le=1_000_000)
    """Pages SQLite's online backup copies per step: between steps its read snapshot ends,
    so WAL checkpoints are not held off for the whole copy."""
    pg_bin: Path | None = None
    """A folder holding pg_dump and pg_restore; default: found on PATH."""
    s3: S3StoreSettings | None = None
    """Keep backups in an S3-compatible bucket instead of the folder; None: the folder."""
    encrypt: bool = False
    """Encrypt new backups' files (AES-256-GCM) with the key in ``key_env``."""
    key_env: str = Field(default="TRIAD_BACKUP_KEY", pattern=ENV_NAME)
    """The environment variable holding the backup key: 32 random bytes in base64. Read to
    encrypt (with ``encrypt``) and to restore encrypted backups; never stored or logged."""
