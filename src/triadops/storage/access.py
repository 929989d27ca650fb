"""The API's access record (``audit_logs``): one row per request, written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.storage import usage
from triadops.storage.tables import AuditLogRow

NO_PRINCIPAL = "-"
"""The actor of a request that proved no principal (as in the Common Log Format)."""


@dataclass(frozen=True, slots=True)
class Access:
    """One request as the access record keeps it: never a body, a token or a query string."""

    at: datetime
    principal: str | None
    method: str
    path: str
    route: str | None
    """The matched route's template, None when no route matched."""
    status: int | None
    latency_s: float
    request_id: str


async def record_accesses(engine: AsyncEngine, accesses: Sequence[Access]) -> None:
    """Insert a batch of accesses in one short transaction of its own (none of a request's).

    The same transaction adds them to this process's share of the API's usage buckets.
    """
    if not accesses:
        return
    rows: list[dict[str, object]] = [
        {
            "created_at": a.at,
            "actor": (a.principal or NO_PRINCIPAL)[:100],
            "action": f"{a.method} {a.route or '(no route)'}"[:200],
            "detail": {},
            "method": a.method[:16],
            "path": a.path[:200],
            "status": a.status,
            "latency_s": round(a.latency_s, 6),
            "request_id": a.request_id[:64],
        }
        for a in accesses
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(AuditLogRow), rows)
        await usage.add_counts(conn, usage.API, usage.counts_by_bucket(a.at for a in accesses))
