"""The ``amcheck`` extension pg_amcheck needs, created in a recovery test's scratch database."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def create_amcheck(engine: AsyncEngine) -> None:
    """Create ``amcheck`` in the database (a scratch copy: it is dropped after the test)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
