"""The chunked AES-256-GCM file format: every way a file can be cut, moved or mis-keyed."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from triadops.actions.backup_cipher import (
    NONCE_BYTES,
    TAG_BYTES,
    CipherError,
    decrypt_file,
    encrypt_file,
    key_from_env,
    key_id,
    read_key_id,
)
from triadops.domain.errors import ActionFailed

CHUNK = 64
SEALED = NONCE_BYTES + CHUNK + TAG_BYTES
HEADER = 20
KEY = bytes(range(32))


def sealed(tmp_path: Path, data: bytes) -> Path:
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    out = tmp_path / "sealed"
    found = encrypt_file(plain, out, KEY, chunk_bytes=CHUNK)
    assert (found.plain_size, found.plain_sha256) == (len(data), hashlib.sha256(data).hexdigest())
    stored = out.read_bytes()
    assert (found.size, found.sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    return out


def opened(tmp_path: Path, path: Path, key: bytes = KEY) -> bytes:
    dest = tmp_path / "opened"
    size, sha = decrypt_file(path, dest, key, name="database.dump")
    data = dest.read_bytes()
    assert (size, sha) == (len(data), hashlib.sha256(data).hexdigest())
    return data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7])
def test_every_size_round_trips_and_hides_the_plaintext(tmp_path: Path, size: int) -> None:
    data = (b"MARKER-" * (size // 7 + 1))[:size]
    path = sealed(tmp_path, data)
    chunks = max(1, -(-size // CHUNK))
    assert path.stat().st_size == HEADER + size + chunks * (NONCE_BYTES + TAG_BYTES)
    if size >= 7:
        assert b"MARKER-" not in path.read_bytes()
    assert opened(tmp_path, path) == data
    assert read_key_id(path, "x") == key_id(KEY)


def test_two_encryptions_of_one_file_differ(tmp_path: Path) -> None:
    a = sealed(tmp_path, b"same" * 40).read_bytes()
    b = sealed(tmp_path, b"same" * 40).read_bytes()
    assert a[:HEADER] == b[:HEADER] and a != b  # fresh nonces


def test_a_wrong_key_is_named_before_decrypting(tmp_path: Path) -> None:
    path = sealed(tmp_path, b"x" * 100)
    other = bytes(32)
    named = rf"encrypted with key id {key_id(KEY)}, not {key_id(other)}"
    with pytest.raises(CipherError, match=named):
        opened(tmp_path, path, other)
    assert not (tmp_path / "opened").read_bytes()


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("flip a ciphertext byte", "chunk 1 fails authentication"),
        ("flip a tag byte", "chunk 0 fails authentication"),
        ("swap two chunks", "chunk 0 fails authentication"),
        ("drop the last chunk", "chunk 1 fails authentication"),
        ("cut inside a chunk", "chunk 2 fails authentication"),
        ("cut to the header", "truncated at chunk 0"),
        ("change the chunk size", "chunk 0 fails authentication"),
        ("append a chunk", "chunk 2 fails authentication"),
    ],
)
def test_a_tampered_or_truncated_file_fails_naming_it_and_the_chunk(
    tmp_path: Path, how: str, problem: str
) -> None:
    data = os.urandom(2 * CHUNK + 10)
    path = sealed(tmp_path, data)
    raw = bytearray(path.read_bytes())
    first, second = HEADER, HEADER + SEALED
    if how == "flip a ciphertext byte":
        raw[second + NONCE_BYTES + 3] ^= 0x01
    elif how == "flip a tag byte":
        raw[second - 1] ^= 0x80
    elif how == "swap two chunks":
        one, two = raw[first:second], raw[second : second + SEALED]
        raw[first:second], raw[second : second + SEALED] = two, one
    elif how == "drop the last chunk":
        del raw[second + SEALED :]
    elif how == "cut inside a chunk":
        del raw[-5:]
    elif how == "cut to the header":
        del raw[HEADER:]
    elif how == "change the chunk size":
        raw[HEADER - 1] ^= 0x01  # 64 -> 65: the header is bound as associated data
    elif how == "append a chunk":
        raw += raw[second : second + SEALED]
    path.write_bytes(bytes(raw))
    with pytest.raises(CipherError, match=rf"^database\.dump: {problem}"):
        opened(tmp_path, path)


def test_not_an_encrypted_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    path.write_bytes(b"SQLite format 3\0" + bytes(100))
    with pytest.raises(CipherError, match=r"database\.dump: not an encrypted backup file"):
        opened(tmp_path, path)


def test_the_key_is_read_from_the_named_variable_and_never_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRIAD_TEST_KEY", raising=False)
    assert key_from_env("TRIAD_TEST_KEY") is None
    monkeypatch.setenv("TRIAD_TEST_KEY", base64.b64encode(KEY).decode())
    assert key_from_env("TRIAD_TEST_KEY") == KEY
    for bad in ("c2hvcnQta2V5", "not base64 at all!!", base64.b64encode(bytes(33)).decode()):
        monkeypatch.setenv("TRIAD_TEST_KEY", bad)
        with pytest.raises(ActionFailed, match="TRIAD_TEST_KEY must hold a 32-byte key") as caught:
            key_from_env("TRIAD_TEST_KEY")
        assert bad not in caught.value.message
