"""What every branch keeps of an agent's consultation: a ledger entry and a counted call."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.agents import AgentReport
from triadops.domain.events import AgentConsulted
from triadops.storage import agent_calls


async def record(session: AsyncSession, report: AgentReport, *, operation_id: str) -> None:
    """Queue the consultation's ledger entry and count the call, in the caller's transaction.

    The entry names the model, the tokens and the latency beside what the agent said, so the
    ledger shows which model advised on which decision.
    """
    ledger.record(
        session,
        AgentConsulted(
            agent=report.agent.value,
            model=report.model,
            ok=report.ok,
            error=report.error,
            latency_s=round(report.latency_s, 6),
            requests=report.requests,
            input_tokens=report.input_tokens,
            output_tokens=report.output_tokens,
            output=report.output,
        ),
        actor=report.agent.actor,
        operation_id=operation_id,
        at=report.at,
    )
    await agent_calls.record_call(session, report, operation_id=operation_id)


async def record_drill(session: AsyncSession, report: AgentReport) -> None:
    """Count a drill's call (``triad agents check``), in the caller's transaction.

    A drill belongs to no operation, so it has no ledger entry; it is still counted, so
    ``triad agents health`` and ``/metrics`` see the model as it answered.
    """
    await agent_calls.record_call(session, report, operation_id=None)
