"""A restored copy of triad's own database checked against the signed checkpoints.

``triad audit verify`` on a restored copy proves the copy's ledger agrees with itself and
with its rows; the signed checkpoints prove it is the ledger that was signed. A copy is a
past state, so the log may hold checkpoints newer than the copy's head: those are counted,
not failed. Every checkpoint at or below the head must carry a good signature by the
configured (public) key and name the hash the copy's entry has, and every checkpoint the
copy's ledger records for that key must be in the log. With a key configured, a missing or
empty log is a finding, as in ``triad audit verify``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger.checkpoints import (
    public_key_id,
    read_log,
    signature_problem,
    verifying_key,
)
from triadops.domain.chain import GENESIS_HASH
from triadops.domain.checkpoints import Checkpoint
from triadops.domain.errors import ActionFailed
from triadops.settings import Settings
from triadops.storage import ledger as store
from triadops.storage.tables import LedgerRow

LISTED = 5
"""Findings named in a failure."""


async def check_copy_checkpoints(
    session: AsyncSession,
    settings: Settings,
    *,
    backup_id: str,
    recorded: Mapping[str, Mapping[int, int]],
) -> str:
    """Check the copy in `session` against the checkpoint log; the line the test records.

    `recorded` is what the copy's ledger records (``audit.Verified.checkpoints``). Fails,
    naming the checkpoints, when one does not hold.
    """
    key = await asyncio.to_thread(verifying_key, settings)
    if key is None:
        return "checkpoints: not checked, no checkpoint key configured"
    mine = recorded.get(public_key_id(key), {})
    log_path = settings.resolved_checkpoint_log
    lines = [line for line in await asyncio.to_thread(read_log, log_path) if line.strip()]
    problems: list[str] = []
    if not lines:
        problems.append(f"checkpoint log {log_path} is missing or empty")
    head, _ = await store.head(session)
    signed: set[int] = set()
    newer = 0
    for number, line in enumerate(lines, start=1):
        try:
            checkpoint = Checkpoint.model_validate_json(line)
        except ValidationError:
            problems.append(f"checkpoint log line {number}: not a checkpoint")
            continue
        named = f"checkpoint {checkpoint.seq} (log line {number})"
        bad = signature_problem(checkpoint, key)
        if bad:
            problems.append(f"{named}: {bad}")
            continue
        if checkpoint.seq > head:
            newer += 1  # signed after this backup was taken
            continue
        signed.add(checkpoint.seq)
        found = await _hash_at(session, checkpoint.seq)
        if found != checkpoint.hash:
            problems.append(f"{named}: the copy's entry {checkpoint.seq} is not the one signed")
    problems += [
        f"checkpoint {seq}, recorded in the copy's ledger, is not in the log"
        for seq in sorted(mine)
        if seq not in signed
    ]
    if problems:
        raise ActionFailed(
            f"restored copy of {backup_id} fails its signed checkpoints: "
            + "; ".join(problems[:LISTED])
        )
    return f"checkpoints: {len(signed)} signed heads match the copy ({newer} newer than it)"


async def _hash_at(session: AsyncSession, seq: int) -> str | None:
    if seq == 0:
        return GENESIS_HASH
    row = await session.get(LedgerRow, seq)
    return row.hash if row is not None else None
