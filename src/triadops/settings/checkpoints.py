"""The checkpoints section: the key that signs the ledger's head, and where heads go."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator


class CheckpointSettings(BaseModel):
    """Signed checkpoints of the ledger's head."""

    checkpoint_key_file: Path | None = None
    """Ed25519 private key (PEM PKCS8 or 32 raw bytes in base64) that signs ledger checkpoints;
    keep it outside the database and its backups (``triad audit keygen`` writes one)."""
    checkpoint_key: SecretStr | None = None
    """The same private key given directly (``TRIAD_CHECKPOINT_KEY``); never logged or printed."""
    checkpoint_public_key_file: Path | None = None
    """Public key (PEM or 32 raw bytes in base64) a verifier checks checkpoints with, when it
    holds no private key; preferred over the private key's own when both are set."""
    checkpoint_log: Path | None = None
    """Append-only log of signed checkpoints; default ``$TRIAD_HOME/checkpoints.jsonl``. Keep it
    (or a copy) where the database's writers cannot reach it."""
    checkpoint_every_s: float = Field(default=300.0, gt=0)
    """How often a worker signs the ledger's head when a checkpoint key is configured."""
    checkpoint_publish_to: str | None = None
    """Where each new signed checkpoint is also published, so a rewrite of the whole
    database shows from outside: ``file:///absolute/path`` (a line appended, the log's own
    format, so the copy serves a verifier as its ``checkpoint_log``) or an ``https://`` (or
    ``http://``) URL it is POSTed to as JSON. A failure is logged, never fatal."""
    checkpoint_publish_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """How long a webhook publication may take before it is given up (logged)."""

    @field_validator("checkpoint_publish_to")
    @classmethod
    def _publishable(cls, value: str | None) -> str | None:
        """Accept an absolute file URL or an HTTP(S) URL with a host; nothing else."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if (
            parts.scheme == "file"
            and parts.path.startswith("/")
            and parts.netloc in ("", "localhost")
        ):
            return value.strip()
        if parts.scheme in ("http", "https") and parts.hostname:
            return value.strip()
        raise ValueError("expected file:///absolute/path or an http(s):// URL with a host")
