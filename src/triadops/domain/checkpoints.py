"""Signed checkpoints of the ledger's head, and the exact bytes a checkpoint signs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CHECKPOINT_FORMAT = "triadops-checkpoint-v1"
"""First line of every signed message; a new layout gets a new version, never a reuse."""


class Checkpoint(BaseModel):
    """The ledger's head (seq, hash) at a moment, signed with an Ed25519 key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0)
    """The head's sequence number; 0 is the empty ledger."""
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    """The hash of entry `seq` (the genesis hash for the empty ledger)."""
    at: AwareDatetime
    """When the head was read."""
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    """Which key signed: see `key_id`."""
    signature: str
    """Base64 Ed25519 signature over `signed_message(seq, hash, at)`."""


def iso_utc(at: datetime) -> str:
    """Return `at` in UTC as ISO 8601 with microseconds, the one spelling that is signed."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def signed_message(*, seq: int, hash: str, at: datetime) -> bytes:
    """Return the canonical bytes a checkpoint's signature covers."""
    return f"{CHECKPOINT_FORMAT}\n{seq}\n{hash}\n{iso_utc(at)}".encode()


def key_id(raw_public_key: bytes) -> str:
    """Return a key's id: the first 16 hex digits of sha256 over its 32 raw bytes."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


class CheckpointReport(BaseModel):
    """The outcome of checking the ledger against the checkpoint log."""

    checked: bool
    """False when no key is configured or there is no log: nothing was proven either way."""
    count: int = 0
    """How many lines the log holds."""
    problems: list[str] = Field(default_factory=list)
    """One line per finding, each naming the checkpoint (seq, time, log line)."""
    reason: str | None = None
    """Why the checkpoints were not checked."""
