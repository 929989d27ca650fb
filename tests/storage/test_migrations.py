"""The shipped migrations and the table models describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from triadops.runtime import Runtime
from triadops.storage.migrate import upgrade
from triadops.storage.tables import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_do_not_drift(runtime: Runtime) -> None:
    async with runtime.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def test_upgrade_twice_is_harmless(runtime: Runtime) -> None:
    await upgrade(runtime.engine)
    await upgrade(runtime.engine)
    async with runtime.engine.connect() as connection:
        assert await connection.run_sync(_diff) == []
