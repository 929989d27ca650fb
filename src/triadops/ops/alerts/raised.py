"""Alerts an action raises while it runs, through ingest, in a transaction of their own."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertIn
from triadops.domain.clock import utcnow
from triadops.ops.alerts.ingest import ingest
from triadops.settings import Settings

SOURCE = "actions"
"""Who raised them, as the ledger and the alert rows say."""


async def raise_alerts(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, alerts: Sequence[AlertIn]
) -> None:
    """Ingest `alerts` (dedup, silences, routes) and commit them with their ledger entries.

    Called by an action between its own short transactions, never inside one: a failure
    propagates, and the action says in its output that its alerts were not stored.
    """
    if not alerts:
        return
    async with sessions() as session:
        await ingest(
            session, list(alerts), source=SOURCE, now=utcnow(), settings=settings.alerts, by=SOURCE
        )
        await lifecycle.commit(session)
