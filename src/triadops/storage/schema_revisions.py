"""Triad's schema revisions: which a database is at, which this code knows, which is newer.

A backup of triad's own database records its Alembic revision; a restore compares it with
the revisions the package ships (a backup from a newer triad is refused) and with the
target's (a backup newer than the schema it would replace is refused too).
"""

from __future__ import annotations

from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.storage.migrate import alembic_config


@cache
def shipped_revisions() -> tuple[str, ...]:
    """The revisions this package ships, oldest first (the chain is linear)."""
    script = ScriptDirectory.from_config(alembic_config())
    return tuple(reversed([r.revision for r in script.walk_revisions()]))


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def database_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database is at; None when it has no ``alembic_version``."""
    async with engine.connect() as connection:
        reading = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return await reading.run_sync(_current)


def revision_refusal(backup: str | None, target: str | None) -> str | None:
    """Why a backup at revision `backup` may not replace a database at `target`, or None.

    Refused: a revision this code does not ship (a newer triad wrote it), or one newer than
    the target's. A backup without a revision (another target's, or an old manifest) and a
    target without one (not a triad database) are not compared.
    """
    if backup is None:
        return None
    known = shipped_revisions()
    if backup not in known:
        return (
            f"it was taken at schema revision {backup}, unknown to this triad (newest "
            f"{known[-1]}): restore it with the triad release that wrote it"
        )
    if target is None or target not in known:
        return None
    if known.index(backup) > known.index(target):
        return (
            f"it was taken at schema revision {backup}, newer than the target's {target}: "
            "upgrade the target (triad migrate) first"
        )
    return None
