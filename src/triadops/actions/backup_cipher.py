"""A backup file encrypted at rest: AES-256-GCM in chunks, streamed, never whole in memory.

The format (version 1)::

    header  = b"TRIADBK" | version (1 byte) | key id (8 bytes) | chunk size (4 bytes, BE)
    chunk   = nonce (12 bytes) | ciphertext | tag (16 bytes)

Every chunk holds ``chunk size`` plaintext bytes but the last, which may hold fewer (an empty
file is one empty last chunk). Each chunk has its own random nonce, and its associated data is
the header, its index (8 bytes) and whether it is the last (1 byte): a chunk moved, dropped,
or a file cut at a chunk's end fails its tag. The key id is a short hash of the key, so a
wrong key is named before anything is decrypted. Blocking: call these in a thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from triadops.domain.errors import ActionFailed

MAGIC = b"TRIADBK"
VERSION = 1
CHUNK_BYTES = 1024 * 1024
"""Plaintext bytes per chunk."""
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = struct.Struct(f">{len(MAGIC)}sB8sI")
_POSITION = struct.Struct(">QB")


class CipherError(ActionFailed):
    """An encrypted file that cannot be decrypted as it is: tampered, cut, or not ours."""


def key_id(key: bytes) -> str:
    """A short hash of `key` (16 hex digits): tells keys apart, reveals nothing of them."""
    return hashlib.sha256(b"triadops backup key id\0" + key).hexdigest()[:16]


def key_from_env(name: str) -> bytes | None:
    """The 32-byte key in environment variable `name` (base64); None when it is unset.

    Refuses, naming the variable but never its value, one that is not 32 bytes in base64.
    """
    value = os.environ.get(name)
    if not value:
        return None
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ActionFailed(
            f'{name} must hold a {KEY_BYTES}-byte key in base64 (python -c "import base64, '
            f'os; print(base64.b64encode(os.urandom(32)).decode())"); it does not'
        )
    return key


@dataclass(frozen=True, slots=True)
class Sealed:
    """What encrypting one file measured: the plaintext's and the stored file's."""

    plain_size: int
    plain_sha256: str
    size: int
    sha256: str


def _header(key: bytes, chunk_bytes: int) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, bytes.fromhex(key_id(key)), chunk_bytes)


def encrypt_file(source: Path, dest: Path, key: bytes, *, chunk_bytes: int = CHUNK_BYTES) -> Sealed:
    """Encrypt `source` into `dest`; measure both as they stream through."""
    aead = AESGCM(key)
    header = _header(key, chunk_bytes)
    plain, stored = hashlib.sha256(), hashlib.sha256()
    plain_size = size = 0
    with source.open("rb") as src, dest.open("wb") as dst:

        def write(data: bytes) -> None:
            nonlocal size
            dst.write(data)
            stored.update(data)
            size += len(data)

        write(header)
        index = 0
        chunk = src.read(chunk_bytes)
        while True:
            following = src.read(chunk_bytes) if len(chunk) == chunk_bytes else b""
            last = not following
            plain.update(chunk)
            plain_size += len(chunk)
            nonce = secrets.token_bytes(NONCE_BYTES)
            ad = header + _POSITION.pack(index, last)
            write(nonce + aead.encrypt(nonce, chunk, ad))
            if last:
                break
            chunk, index = following, index + 1
        dst.flush()
        os.fsync(dst.fileno())
    return Sealed(plain_size, plain.hexdigest(), size, stored.hexdigest())


def read_key_id(path: Path, name: str) -> str:
    """The key id in the header of the encrypted file at `path` (`name` in errors)."""
    with path.open("rb") as f:
        return _read_header(f.read(_HEADER.size), name)[0]


def _read_header(data: bytes, name: str) -> tuple[str, int]:
    if len(data) < _HEADER.size:
        raise CipherError(f"{name}: too short to be an encrypted backup file")
    magic, version, kid, chunk_bytes = _HEADER.unpack(data)
    if magic != MAGIC:
        raise CipherError(f"{name}: not an encrypted backup file")
    if version != VERSION:
        raise CipherError(f"{name}: encrypted with format {version}, this triad reads {VERSION}")
    if not 0 < chunk_bytes <= 64 * CHUNK_BYTES:
        raise CipherError(f"{name}: its header names a chunk size of {chunk_bytes} bytes")
    return kid.hex(), chunk_bytes


def decrypt_file(source: Path, dest: Path, key: bytes, *, name: str) -> tuple[int, str]:
    """Decrypt `source` into `dest`; answer the plaintext's size and sha256.

    Fails naming the file (`name`) and the chunk at the first that does not authenticate,
    and when the file ends before its last chunk (truncated).
    """
    aead = AESGCM(key)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as src, dest.open("wb") as dst:
        header = src.read(_HEADER.size)
        kid, chunk_bytes = _read_header(header, name)
        if kid != key_id(key):
            raise CipherError(f"{name}: encrypted with key id {kid}, not {key_id(key)}")
        sealed = NONCE_BYTES + chunk_bytes + TAG_BYTES
        index = 0
        chunk = src.read(sealed)
        while True:
            following = src.read(sealed) if len(chunk) == sealed else b""
            last = not following
            if len(chunk) < NONCE_BYTES + TAG_BYTES:
                raise CipherError(f"{name}: truncated at chunk {index}")
            ad = header + _POSITION.pack(index, last)
            try:
                data = aead.decrypt(chunk[:NONCE_BYTES], chunk[NONCE_BYTES:], ad)
            except InvalidTag:
                raise CipherError(
                    f"{name}: chunk {index} fails authentication (tampered or truncated)"
                ) from None
            dst.write(data)
            digest.update(data)
            size += len(data)
            if last:
                return size, digest.hexdigest()
            chunk, index = following, index + 1
