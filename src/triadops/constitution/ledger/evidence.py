"""Export an operation's evidence: its record and the ledger segment up to a signed head.

The chain is linear, so there is no shorter proof than the entries themselves: the bundle
holds every entry from the operation's submission to the first signed checkpoint at or
after its last entry, other subjects' entries between included (they are hashed in full:
a hash cannot be checked without them). An old operation's bundle carries the history
written since; :mod:`evidence_check` verifies it with the public key alone.

The checkpoint log is read before the database's snapshot is taken, so every checkpoint
found is at or below the head the snapshot sees.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger.checkpoints import read_log
from triadops.constitution.ledger.signing import signature_problem
from triadops.domain.checkpoints import Checkpoint
from triadops.domain.errors import Conflict
from triadops.domain.evidence import EvidenceBundle, EvidenceEntry
from triadops.domain.operations import utcnow
from triadops.storage import ledger as store
from triadops.storage.audit import read_snapshot
from triadops.storage.records import load_operation

NO_KEY = (
    "evidence needs signed checkpoints and no checkpoint key is configured "
    "(checkpoint_public_key_file, checkpoint_key_file or checkpoint_key)"
)


async def export_evidence(
    session: AsyncSession,
    *,
    operation_id: str,
    log_path: Path,
    public_key: Ed25519PublicKey,
) -> EvidenceBundle:
    """Return the operation's bundle; call it first in a fresh read-only session.

    Raises NotFound for an unknown operation and Conflict when no checkpoint signed with
    `public_key` covers the operation's last entry yet.
    """
    heads = await asyncio.to_thread(read_heads, log_path)
    await read_snapshot(session)
    operation = await load_operation(session, operation_id)
    span = await store.operation_span(session, operation_id)
    if span is None:
        raise Conflict(f"operation {operation_id} has no ledger entries")
    first, last = span
    checkpoint = await asyncio.to_thread(first_signed, heads, public_key, at_least=last)
    if checkpoint is None:
        newest = f"the log's newest is {max(c.seq for c in heads)}" if heads else "none yet"
        raise Conflict(
            f"no signed checkpoint covers entry {last}, the operation's last, yet "
            f"({newest}): wait for the worker's next (checkpoint_every_s) or run "
            "triad audit checkpoint"
        )
    entries = [
        EvidenceEntry.model_validate(link)
        async for links in store.select_range(session, first=first, last=checkpoint.seq)
        for link in links
    ]
    return EvidenceBundle(
        operation_id=operation_id,
        exported_at=utcnow(),
        operation=operation,
        entries=entries,
        checkpoint=checkpoint,
    )


def read_heads(log_path: Path) -> list[Checkpoint]:
    """Return the log's checkpoints, unchecked; lines that are none are passed over."""
    found: list[Checkpoint] = []
    for line in read_log(log_path):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.model_validate_json(line))
        except ValidationError:
            continue
    return found


def first_signed(
    heads: list[Checkpoint], public_key: Ed25519PublicKey, *, at_least: int
) -> Checkpoint | None:
    """Return the lowest checkpoint at or above seq `at_least` that `public_key` signed.

    Signatures are checked from the lowest candidate up, so a long log costs one check
    for an honest one, not one a line.
    """
    for checkpoint in sorted((c for c in heads if c.seq >= at_least), key=lambda c: c.seq):
        if signature_problem(checkpoint, public_key) is None:
            return checkpoint
    return None
