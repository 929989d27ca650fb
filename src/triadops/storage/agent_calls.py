"""Agent calls: each one kept for the health window, and running totals for /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.agents import AgentReport
from triadops.storage.tables import AgentCallRow, AgentTotalRow

WINDOW_CALLS = 1000
"""The most calls of one agent a health window reads: its cost does not grow with history."""


def _outcome(report: AgentReport) -> str:
    return "ok" if report.ok else "failed"


async def record_call(
    session: AsyncSession, report: AgentReport, *, operation_id: str | None
) -> None:
    """Keep one call and add it to its running totals, in the caller's transaction."""
    session.add(
        AgentCallRow(
            agent=report.agent.value,
            model=report.model,
            operation_id=operation_id,
            ok=report.ok,
            error=report.error,
            latency_s=report.latency_s,
            requests=report.requests,
            input_tokens=report.input_tokens,
            output_tokens=report.output_tokens,
            at=report.at,
        )
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = (pg_insert if postgres else sqlite_insert)(AgentTotalRow).values(
        agent=report.agent.value,
        model=report.model,
        outcome=_outcome(report),
        calls=1,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        latency_s=report.latency_s,
    )
    new = insert.excluded
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[AgentTotalRow.agent, AgentTotalRow.model, AgentTotalRow.outcome],
            set_={
                "calls": AgentTotalRow.calls + 1,
                "input_tokens": AgentTotalRow.input_tokens + new["input_tokens"],
                "output_tokens": AgentTotalRow.output_tokens + new["output_tokens"],
                "latency_s": AgentTotalRow.latency_s + new["latency_s"],
            },
        )
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One kept call, as the health window reads it."""

    model: str
    ok: bool
    error: str | None
    latency_s: float
    tokens: int
    at: datetime


async def recent_calls(
    session: AsyncSession, agent: str, *, since: datetime, limit: int = WINDOW_CALLS
) -> list[Call]:
    """Return an agent's calls since `since`, newest first, at most `limit` of them."""
    stmt = (
        select(
            AgentCallRow.model,
            AgentCallRow.ok,
            AgentCallRow.error,
            AgentCallRow.latency_s,
            AgentCallRow.input_tokens + AgentCallRow.output_tokens,
            AgentCallRow.at,
        )
        .where(AgentCallRow.agent == agent, AgentCallRow.at >= since)
        .order_by(AgentCallRow.at.desc())
        .limit(limit)
    )
    return [Call(*row) for row in (await session.execute(stmt)).all()]


async def totals(session: AsyncSession) -> list[AgentTotalRow]:
    """Return the running totals, one row per agent, model and outcome."""
    return list((await session.execute(select(AgentTotalRow))).scalars().all())


async def prune_calls(session: AsyncSession, *, keep: int) -> int:
    """Delete all but the newest `keep` calls; return how many went."""
    newest = select(func.max(AgentCallRow.id)).scalar_subquery()
    result = await session.execute(delete(AgentCallRow).where(AgentCallRow.id <= newest - keep))
    return int(getattr(result, "rowcount", 0) or 0)
