"""The governing settings a database was given: stored by its first writer, read by the rest."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.events import GovernanceSet
from triadops.storage.tables import GovernanceRow

Governance = dict[str, JsonValue]

GOVERNANCE_ACTOR = "triad:governance"
"""The actor of that entry (``triad`` is reserved: no principal can take the name); the
process that set it is in the details."""


def governance_hash(settings: Governance) -> str:
    """Return the sha256 of the settings' canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def read_governance(session: AsyncSession) -> GovernanceRow | None:
    """Return the stored governance, or None when no writer has stored one yet."""
    found = await session.execute(select(GovernanceRow).where(GovernanceRow.id == 1))
    return found.scalar_one_or_none()


async def store_governance(
    session: AsyncSession, *, settings: Governance, set_by: str, now: datetime
) -> tuple[GovernanceRow, bool]:
    """Store `settings` as the database's governance (replacing any); the caller commits.

    Returns the row and whether this call stored it. Two first writers racing: the second
    one's insert fails on the key, and it reads and returns the row the first one stored.
    """
    row = await read_governance(session)
    digest = governance_hash(settings)
    if row is None:
        row = GovernanceRow(id=1, settings=settings, hash=digest, set_by=set_by, set_at=now)
        session.add(row)
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            stored = await read_governance(session)
            assert stored is not None, "the racing writer's row is there"
            return stored, False
        return row, True
    row.settings, row.hash, row.set_by, row.set_at = settings, digest, set_by, now
    await session.flush()
    return row, True


def governance_entry(row: GovernanceRow) -> GovernanceSet:
    """Return the ledger event that records `row` as set."""
    return GovernanceSet(hash=row.hash, settings=row.settings, set_by=row.set_by)


def differences(stored: Governance, mine: Governance) -> list[str]:
    """Return the keys whose values differ between the stored and this process's settings.

    ``model`` comes first: it is the one most often left unset in a shell.
    """
    differ = (key for key in stored.keys() | mine.keys() if stored.get(key) != mine.get(key))
    return sorted(differ, key=lambda key: (key != "model", key))
