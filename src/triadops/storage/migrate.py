"""Apply the Alembic migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: only triad's migrators take it, so concurrent starts migrate once.
_MIGRATION_LOCK = 0x7472_6961_64


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")


def head_revision() -> str | None:
    """Return the newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def is_current(engine: AsyncEngine) -> bool:
    """True when the schema is at the newest revision (a plain read: no write lock)."""
    async with engine.connect() as connection:
        reading = await connection.execution_options(isolation_level="AUTOCOMMIT")
        current = await reading.run_sync(_current_revision)
    return current == head_revision()


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema; safe to call from many processes at once.

    Checking costs a read; only a database that is behind is migrated, under the write
    lock, so commands run beside a busy writer do not wait for it.
    """
    if await is_current(engine):
        return
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
