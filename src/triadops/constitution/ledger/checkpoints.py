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
with its public key to verify the past. The keys, and signing and checking a head, are in
``signing``; this module writes the log and verifies it against the ledger.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger import chain as ledger
from triadops.constitution.ledger.signing import (
    KEY_FORMS,
    MAX_KEY_FILE_BYTES,
    generate_key_file,
    parse_private_key,
    parse_public_key,
    public_key_id,
    public_key_text,
    sign_checkpoint,
    signature_problem,
    signing_configured,
    signing_key,
    verifying_key,
)
from triadops.domain.chain import GENESIS_HASH
from triadops.domain.checkpoints import Checkpoint, CheckpointReport, iso_utc
from triadops.domain.errors import Conflict
from triadops.domain.events import CheckpointSigned
from triadops.storage import ledger as store
from triadops.storage.tables import LedgerRow

__all__ = [
    "CHECKPOINT_ACTOR",
    "CHECKPOINT_SIGNED",
    "KEY_FORMS",
    "MAX_KEY_FILE_BYTES",
    "TAIL_BYTES",
    "append_checkpoint",
    "check_log",
    "checkpoint_due",
    "generate_key_file",
    "parse_private_key",
    "parse_public_key",
    "public_key_id",
    "public_key_text",
    "read_log",
    "record_checkpoint",
    "sign_checkpoint",
    "signature_problem",
    "signing_configured",
    "signing_key",
    "verify_checkpoints",
    "verifying_key",
    "write_checkpoint",
]
"""The keys and signatures live in ``signing``; they are re-exported here, where callers
have always found them."""

TAIL_BYTES = 64 * 1024
"""How much of the log's end the writer reads to find the last checkpoint."""
CHECKPOINT_SIGNED = "checkpoint_signed"
"""The ledger entry that records a checkpoint written to the log (its seq, hash, key id)."""
CHECKPOINT_ACTOR = "crown:checkpoints"


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
    for number, checkpoint in _parsed(lines, problems):
        seq = checkpoint.seq
        named = f"checkpoint {seq} (at {iso_utc(checkpoint.at)}, log line {number})"
        bad_signature = signature_problem(checkpoint, public_key)
        if bad_signature:
            problems.append(f"{named}: {bad_signature}")
            continue
        signed.add(seq)
        if highest is not None and seq < highest[0].seq:
            problems.append(f"{named}: seq went down, below {highest[1]}")
        if seq not in hashes:
            hashes[seq] = await _hash_at(session, seq)
        problems += _hash_problems(checkpoint, hashes[seq], number)
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


def _parsed(lines: list[str], problems: list[str]) -> Iterator[tuple[int, Checkpoint]]:
    """Yield each checkpoint of the log with its line number; name each line that is not one."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            yield number, Checkpoint.model_validate_json(text)
        except ValidationError as exc:
            problems.append(f"checkpoint log line {number}: not a checkpoint ({_first(exc)})")


def _hash_problems(checkpoint: Checkpoint, actual: str | None, number: int) -> list[str]:
    """Name the entry a checkpoint signed when it is gone or its hash is no longer signed."""
    seq, when = checkpoint.seq, iso_utc(checkpoint.at)
    if actual is None:
        return [
            f"ledger truncated below checkpoint {seq} (at {when}, log line {number}): "
            f"entry {seq} is missing"
        ]
    if actual != checkpoint.hash:
        return [
            f"entry {seq} was rewritten since the checkpoint at {when} (checkpoint {seq}, "
            f"log line {number}): "
            f"its hash is now {actual[:16]}..., the checkpoint signed {checkpoint.hash[:16]}..."
        ]
    return []


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


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append `checkpoint` as one line to the file at `path`, locked and synced (blocking)."""
    log = _open_locked(path)
    try:
        _append(log, checkpoint)
    finally:
        log.close()


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
