"""The checkpoints' keys and signatures: Ed25519 keys read, made and used.

A checkpoint is the ledger's head signed with a key the database never holds
(``checkpoints`` says what that proves and writes the log). This module reads the keys
from the settings (a PEM file or 32 raw bytes in base64, never echoing their content),
writes a new private key file that is never overwritten, signs a head and checks a
signature. Nothing here touches the database or the log.
"""

from __future__ import annotations

import base64
import binascii
import os
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from triadops.domain.checkpoints import Checkpoint, key_id, signed_message
from triadops.domain.errors import Conflict, InvalidRequest
from triadops.domain.operations import utcnow
from triadops.settings import Settings

KEY_FORMS = "an Ed25519 key in PEM or as its 32 raw bytes in base64"
MAX_KEY_FILE_BYTES = 64 * 1024


def parse_private_key(data: bytes, *, source: str) -> Ed25519PrivateKey:
    """Read a private key from PEM (PKCS8) or 32 raw bytes in base64.

    A refusal names `source`, never any of the key's content.
    """
    key: object = None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(_raw_32(data))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidRequest(f"{source}: not a private key: expected {KEY_FORMS}")
    return key


def parse_public_key(data: bytes, *, source: str) -> Ed25519PublicKey:
    """Read a public key from PEM (SubjectPublicKeyInfo) or 32 raw bytes in base64."""
    key: object = None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(_raw_32(data))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidRequest(f"{source}: not a public key: expected {KEY_FORMS}")
    return key


def _raw_32(data: bytes) -> bytes:
    raw = base64.b64decode(b"".join(data.split()), validate=True)
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return raw


def _read_key_file(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(MAX_KEY_FILE_BYTES)
    except OSError as exc:
        raise InvalidRequest(f"cannot read the key file {path}: {exc.strerror}") from None


def signing_configured(settings: Settings) -> bool:
    """True when a private key is configured (without reading it)."""
    return settings.checkpoint_key is not None or settings.checkpoint_key_file is not None


def signing_key(settings: Settings) -> Ed25519PrivateKey | None:
    """Return the configured private key (a file or a variable), or None when there is none."""
    if settings.checkpoint_key is not None and settings.checkpoint_key_file is not None:
        raise InvalidRequest("set checkpoint_key or checkpoint_key_file, not both")
    if settings.checkpoint_key is not None:
        secret = settings.checkpoint_key.get_secret_value().encode()
        return parse_private_key(secret, source="checkpoint_key (TRIAD_CHECKPOINT_KEY)")
    if settings.checkpoint_key_file is not None:
        path = settings.checkpoint_key_file
        return parse_private_key(_read_key_file(path), source=str(path))
    return None


def verifying_key(settings: Settings) -> Ed25519PublicKey | None:
    """Return the key to verify with: the public key file, else the private key's, else None."""
    path = settings.checkpoint_public_key_file
    if path is not None:
        return parse_public_key(_read_key_file(path), source=str(path))
    private = signing_key(settings)
    return private.public_key() if private is not None else None


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """Return the public key as its 32 raw bytes in base64 (what a public key file may hold)."""
    return base64.b64encode(_raw_public(public_key)).decode()


def public_key_id(public_key: Ed25519PublicKey) -> str:
    """Return the id that checkpoints signed with this key carry."""
    return key_id(_raw_public(public_key))


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate_key_file(path: Path) -> Ed25519PublicKey:
    """Write a new private key to `path` (PEM PKCS8, mode 0600); never overwrite a file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: an existing file (or a symlink, even a dangling one) is never replaced.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{path} already exists: a key file is never overwritten") from None
    except OSError as exc:
        raise InvalidRequest(f"cannot create the key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    return key.public_key()


def sign_checkpoint(
    key: Ed25519PrivateKey, *, seq: int, hash: str, at: datetime | None = None
) -> Checkpoint:
    """Sign the head (seq, hash) as read at `at` (default: now)."""
    at = at or utcnow()
    signature = key.sign(signed_message(seq=seq, hash=hash, at=at))
    return Checkpoint(
        seq=seq,
        hash=hash,
        at=at,
        key_id=public_key_id(key.public_key()),
        signature=base64.b64encode(signature).decode(),
    )


def signature_problem(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> str | None:
    """Return why `checkpoint` was not signed by `public_key`, or None when it was."""
    expected = public_key_id(public_key)
    if checkpoint.key_id != expected:
        return f"signed by an unknown key {checkpoint.key_id} (expected {expected})"
    message = signed_message(seq=checkpoint.seq, hash=checkpoint.hash, at=checkpoint.at)
    try:
        public_key.verify(base64.b64decode(checkpoint.signature, validate=True), message)
    except (InvalidSignature, binascii.Error):
        return "bad signature (forged, or altered after signing)"
    return None
