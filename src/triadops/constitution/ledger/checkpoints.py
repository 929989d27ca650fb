"""Signed checkpoints of the ledger's head, appended to a log outside the database.

What they prove. The hash chain alone shows only that the ledger agrees with itself: whoever
can write the database can cut off the tail and move the head back, or edit an entry and
recompute every later hash, and the chain still verifies. A checkpoint is the head (seq,
hash, time) signed with an Ed25519 key the database never holds, appended to a log file the
database never holds. Verification asks, for each checkpoint, whether entry `seq` still
exists with exactly that hash and whether the head is not below it. Each hash covers every
entry before it, so a truncation, or a rewrite of any entry up to the last checkpoint, is
found and named. This is Certificate Transparency's signed tree head (RFC 9162) without the
Merkle tree: a hash chain needs one lookup per checkpoint, not a proof.

What they cannot prove.
- Anything after the last checkpoint: newer entries can be rewritten or cut off unseen until
  a checkpoint covers them (hence the worker's cadence, ``checkpoint_every_s``).
- Anything against someone who can rewrite both the log and the ledger's tail. Each checkpoint
  written is also recorded in the ledger (a ``checkpoint_signed`` entry naming its seq), so a
  log deleted, emptied or cut short of a recorded checkpoint is a finding, and with a key
  configured a missing or empty log is never a pass. The record of the newest checkpoint sits
  after it, though, beyond every checkpoint's reach. With the private key too, they sign any
  head they like (the worker's host holds that key). So a verifier keeps the public key, and
  the log or a copy of it, where the database's writers cannot reach them: another machine,
  append-only or write-once storage. The default log in ``$TRIAD_HOME`` sits beside the
  SQLite file: it guards against writers of the database, not of the data folder.
- That operations, steps, approvals and tokens agree with the ledger: that is the replay's job.

One log holds one key's checkpoints: to rotate the key, start a new log and keep the old log
with its public key to verify the past.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fcntl
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger import chain as ledger
from triadops.domain.chain import GENESIS_HASH
from triadops.domain.checkpoints import (
    Checkpoint,
    CheckpointReport,
    iso_utc,
    key_id,
    signed_message,
)
from triadops.domain.errors import Conflict, InvalidRequest
from triadops.domain.events import CheckpointSigned
from triadops.domain.operations import utcnow
from triadops.settings import Settings
from triadops.storage import ledger as store
from triadops.storage.tables import LedgerRow

KEY_FORMS = "an Ed25519 key in PEM or as its 32 raw bytes in base64"
MAX_KEY_FILE_BYTES = 64 * 1024
TAIL_BYTES = 64 * 1024
"""How much of the log's end the writer reads to find the last checkpoint."""
CHECKPOINT_SIGNED = "checkpoint_signed"
"""The ledger entry that records a checkpoint written to the log (its seq, hash, key id)."""
CHECKPOINT_ACTOR = "crown:checkpoints"


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


async def write_checkpoint(
    session: AsyncSession, *, key: Ed25519PrivateKey, log_path: Path
) -> Checkpoint:
    """Sign the ledger's head and append it to the checkpoint log, on disk; return it.

    Reads the head without locking it. The log is locked (flock) from before the head is
    read until the line is synced, so writers sharing a log append in seq order. Refuses
    (Conflict) when the head is below the log's last checkpoint, or that checkpoint's entry
    no longer has its hash: the ledger was cut back or rewritten, and a new signature would
    only bless it.
    """
    log = await asyncio.to_thread(_open_locked, log_path)
    try:
        last = await asyncio.to_thread(_last_checkpoint, log, key.public_key())
        seq, digest = await store.head(session)
        if last is not None:
            if seq < last.seq:
                raise Conflict(
                    f"not signing: the ledger head {seq} is below the last "
                    f"checkpoint {last.seq} at {iso_utc(last.at)} (the head moved back)"
                )
            if await _hash_at(session, last.seq) != last.hash:
                raise Conflict(
                    f"not signing: entry {last.seq} was rewritten since the checkpoint "
                    f"at {iso_utc(last.at)}"
                )
        checkpoint = sign_checkpoint(key, seq=seq, hash=digest)
        await asyncio.to_thread(_append, log, checkpoint)
    finally:
        await asyncio.to_thread(log.close)  # closing releases the lock
    return checkpoint


def record_checkpoint(session: AsyncSession, checkpoint: Checkpoint) -> None:
    """Queue the ledger entry that records `checkpoint` as written to the log.

    The log can then no longer lose it unseen: verification holds the log to every
    checkpoint the ledger records for its key.
    """
    ledger.record(
        session,
        CheckpointSigned(seq=checkpoint.seq, hash=checkpoint.hash, key_id=checkpoint.key_id),
        actor=CHECKPOINT_ACTOR,
    )


async def checkpoint_due(
    session: AsyncSession, *, public_key: Ed25519PublicKey, log_path: Path
) -> bool:
    """False when the log's last checkpoint covers every entry but its own record."""
    last = await asyncio.to_thread(_last_in_file, log_path, public_key)
    if last is None:
        return True
    seq, _ = await store.head(session)
    if seq == last.seq:
        return True  # signed, but its record never committed: sign (and record) again
    if seq != last.seq + 1:
        return True
    row = await session.get(LedgerRow, seq)
    return not (
        row is not None
        and row.event == CHECKPOINT_SIGNED
        and isinstance(row.details, dict)
        and row.details.get("seq") == last.seq
    )


async def check_log(
    session: AsyncSession,
    *,
    log_path: Path,
    public_key: Ed25519PublicKey,
    recorded: Mapping[int, int],
) -> CheckpointReport:
    """Check the log against the ledger; with a key, a missing or empty log is a finding.

    `recorded` maps each checkpoint seq the ledger records for this key to the entry that
    records it (``audit.Verified.checkpoints``).
    """
    lines = await asyncio.to_thread(_read_log_if_present, log_path)
    if lines is None or not any(line.strip() for line in lines):
        state = "missing" if lines is None else "empty"
        said = (
            f"the ledger records {len(recorded)} checkpoint(s), the newest {max(recorded)}"
            if recorded
            else "none written yet (triad audit checkpoint, or a worker, writes one)"
        )
        problem = f"checkpoint log {log_path} is {state}: required with a checkpoint key; {said}"
        return CheckpointReport(checked=True, count=0, problems=[problem])
    problems = await verify_checkpoints(
        session, log_path=log_path, public_key=public_key, recorded=recorded
    )
    count = sum(1 for line in lines if line.strip())
    return CheckpointReport(checked=True, count=count, problems=problems)


async def verify_checkpoints(
    session: AsyncSession,
    *,
    log_path: Path,
    public_key: Ed25519PublicKey,
    recorded: Mapping[int, int] | None = None,
) -> list[str]:
    """Check every checkpoint in the log against the ledger; return one line per finding.

    Each line names the checkpoint (its seq, time and log line). A log that does not exist
    has nothing to check (:func:`check_log` refuses one). Every checkpoint in `recorded`
    (seq to its recording entry) must be in the log. Cost: one lookup by seq per distinct
    checkpointed seq, never a walk of the chain.
    """
    lines = await asyncio.to_thread(read_log, log_path)
    problems: list[str] = []
    hashes: dict[int, str | None] = {}
    highest: tuple[Checkpoint, str] | None = None
    signed: set[int] = set()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            checkpoint = Checkpoint.model_validate_json(text)
        except ValidationError as exc:
            problems.append(f"checkpoint log line {number}: not a checkpoint ({_first(exc)})")
            continue
        seq, when = checkpoint.seq, iso_utc(checkpoint.at)
        named = f"checkpoint {seq} (at {when}, log line {number})"
        bad_signature = signature_problem(checkpoint, public_key)
        if bad_signature:
            problems.append(f"{named}: {bad_signature}")
            continue
        signed.add(seq)
        if highest is not None and seq < highest[0].seq:
            problems.append(f"{named}: seq went down, below {highest[1]}")
        if seq not in hashes:
            hashes[seq] = await _hash_at(session, seq)
        actual = hashes[seq]
        if actual is None:
            problems.append(
                f"ledger truncated below checkpoint {seq} (at {when}, log line {number}): "
                f"entry {seq} is missing"
            )
        elif actual != checkpoint.hash:
            problems.append(
                f"entry {seq} was rewritten since the checkpoint at {when} (checkpoint {seq}, "
                f"log line {number}): "
                f"its hash is now {actual[:16]}..., the checkpoint signed {checkpoint.hash[:16]}..."
            )
        if highest is None or seq >= highest[0].seq:
            highest = (checkpoint, named)
    if highest is not None:
        head_seq, _ = await store.head(session)
        if head_seq < highest[0].seq:
            problems.append(f"ledger head {head_seq} is below {highest[1]}: the tail was truncated")
    for seq, entry in sorted((recorded or {}).items()):
        if seq not in signed:
            problems.append(
                f"checkpoint {seq} is recorded in the ledger (entry {entry}) but missing "
                f"from the log {log_path}: the log was cut or edited"
            )
    return problems


def read_log(log_path: Path) -> list[str]:
    """Return the log's lines; none when it does not exist."""
    return _read_log_if_present(log_path) or []


def _read_log_if_present(log_path: Path) -> list[str] | None:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None


def _last_in_file(log_path: Path, public_key: Ed25519PublicKey) -> Checkpoint | None:
    try:
        with log_path.open("rb") as log:
            return _last_checkpoint(log, public_key)
    except FileNotFoundError:
        return None


async def _hash_at(session: AsyncSession, seq: int) -> str | None:
    """Return the hash of entry `seq` (one lookup by primary key), or None when it is gone."""
    if seq == 0:
        return GENESIS_HASH
    row = await session.get(LedgerRow, seq)
    return row.hash if row is not None else None


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def _open_locked(log_path: Path) -> BinaryIO:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("a+b")
    try:
        fcntl.flock(log.fileno(), fcntl.LOCK_EX)
    except BaseException:
        log.close()
        raise
    return log


def _last_checkpoint(log: BinaryIO, public_key: Ed25519PublicKey) -> Checkpoint | None:
    """Return the newest checkpoint near the log's end that this key signed."""
    size = log.seek(0, os.SEEK_END)
    start = max(0, size - TAIL_BYTES)
    log.seek(start)
    lines = log.read().split(b"\n")
    if start:
        lines = lines[1:]  # the first line was cut by where we began reading
    for line in reversed(lines):
        if not line.strip():
            continue
        try:
            checkpoint = Checkpoint.model_validate_json(line)
        except ValidationError:
            continue
        if signature_problem(checkpoint, public_key) is None:
            return checkpoint
    return None


def _append(log: BinaryIO, checkpoint: Checkpoint) -> None:
    line = checkpoint.model_dump_json().encode() + b"\n"
    end = log.seek(0, os.SEEK_END)
    if end:
        log.seek(end - 1)
        if log.read(1) != b"\n":
            line = b"\n" + line  # a torn last line must not swallow this one
    log.write(line)
    log.flush()
    os.fsync(log.fileno())
