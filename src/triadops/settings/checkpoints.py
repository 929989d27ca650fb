"""The checkpoints section: the key that signs the ledger's head, and where heads go."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


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
