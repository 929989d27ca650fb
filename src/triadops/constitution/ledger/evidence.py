"""Export an operation's evidence: its record and the ledger segment up to a signed head.

The chain is linear, so there is no shorter proof than the entries themselves: the bundle
holds every entry from the operation's submission to the first signed checkpoint at or
after its last entry, other subjects' entries between included (they are hashed in full:
a hash cannot be checked without them). An old operation's bundle carries the history
written since; :mod:`evidence_check` verifies it with the public key alone.

The checkpoint log is read before the database's snapshot is taken, so every checkpoint
found is at or below the head the snapshot sees.

A bundle is written as it is read (:class:`EvidenceExport`): every check is made first, in
:func:`prepare_evidence`, then the small fields and the entries a batch at a time, so the
server and the exporting CLI never hold the whole segment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger.checkpoints import read_log
from triadops.constitution.ledger.signing import signature_problem
from triadops.domain.checkpoints import Checkpoint, iso_utc
from triadops.domain.errors import Conflict
from triadops.domain.evidence import EvidenceBundle, EvidenceEntry, EvidenceHead
from triadops.domain.operations import utcnow
from triadops.storage import ledger as store
from triadops.storage.audit import read_snapshot
from triadops.storage.records import load_operation

NO_KEY = (
    "evidence needs signed checkpoints and no checkpoint key is configured "
    "(checkpoint_public_key_file, checkpoint_key_file or checkpoint_key)"
)


BATCH = 1000
"""Entries read, and written, at a time."""


@dataclass
class EvidenceExport:
    """A checked export, ready to write: its small fields and where its segment starts."""

    head: EvidenceHead
    first: int
    written: int = 0
    """Entries written so far by :meth:`chunks`."""

    def summary(self) -> dict[str, str | int]:
        """What the bundle holds, in a few fields (the entries as the segment counts them)."""
        checkpoint = self.head.checkpoint
        return {
            "operation_id": self.head.operation_id,
            "status": self.head.operation.status.value,
            "first_seq": self.first,
            "checkpoint_seq": checkpoint.seq,
            "entries": checkpoint.seq - self.first + 1,
            "key_id": checkpoint.key_id,
            "signed_at": iso_utc(checkpoint.at),
        }

    async def chunks(self, session: AsyncSession, *, batch: int = BATCH) -> AsyncIterator[bytes]:
        """Yield the bundle as JSON: the small fields, then ``entries`` a batch at a time.

        Read in the session :func:`prepare_evidence` took its snapshot in; it parses as an
        :class:`EvidenceBundle`.
        """
        head = self.head.model_dump_json()
        yield f'{head[:-1]},"entries":[\n'.encode()
        separator = ""
        async for links in store.select_range(
            session, first=self.first, last=self.head.checkpoint.seq, batch=batch
        ):
            text = ",\n".join(
                EvidenceEntry.model_validate(link).model_dump_json() for link in links
            )
            self.written += len(links)
            yield f"{separator}{text}".encode()
            separator = ",\n"
        yield b"\n]}\n"


async def prepare_evidence(
    session: AsyncSession,
    *,
    operation_id: str,
    log_path: Path,
    public_key: Ed25519PublicKey,
) -> EvidenceExport:
    """Check an export and return it, ready to write; call it first in a fresh read-only session.

    Raises NotFound for an unknown operation and Conflict when no checkpoint signed with
    `public_key` covers the operation's last entry yet: before anything is written.
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
    head = EvidenceHead(
        operation_id=operation_id, exported_at=utcnow(), operation=operation, checkpoint=checkpoint
    )
    return EvidenceExport(head=head, first=first)


async def export_evidence(
    session: AsyncSession,
    *,
    operation_id: str,
    log_path: Path,
    public_key: Ed25519PublicKey,
) -> EvidenceBundle:
    """Return the operation's bundle whole, in memory (for a short segment, or a test)."""
    export = await prepare_evidence(
        session, operation_id=operation_id, log_path=log_path, public_key=public_key
    )
    entries = [
        EvidenceEntry.model_validate(link)
        async for links in store.select_range(
            session, first=export.first, last=export.head.checkpoint.seq
        )
        for link in links
    ]
    head = export.head
    return EvidenceBundle(
        operation_id=head.operation_id,
        exported_at=head.exported_at,
        operation=head.operation,
        entries=entries,
        checkpoint=head.checkpoint,
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
