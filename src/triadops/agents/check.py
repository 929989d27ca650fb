"""``triad agents check``: ask each configured agent's model one tiny question, now.

Each agent's model is asked through its own `Consultant` (its limits, deadline and retries),
all at once, outside any transaction; each call is then recorded in a short transaction of
its own, so ``triad agents health`` and ``/metrics`` count it like any other. A failed
check raises no alert: the person who ran it is reading the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict
from pydantic_ai import Agent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triadops.agents.consult import Answer, Consultant
from triadops.constitution import lifecycle
from triadops.domain.agents import AgentName
from triadops.storage import agent_calls

INSTRUCTIONS = (
    "You are being checked by triadops, an operations control plane, to see that you "
    "answer. Reply with ok set to true, and nothing else."
)
PROMPT = "Are you there?"


class Pong(BaseModel):
    """The one answer a check asks for."""

    ok: bool


class AgentCheck(BaseModel):
    """How one agent's model answered the check."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    agent: AgentName
    model: str
    """The model as people read it (``provider:model``), never a key."""
    ok: bool
    """True when the model gave a valid answer saying ok."""
    latency_s: float
    input_tokens: int
    output_tokens: int
    error: str | None
    """What went wrong, in one line, without the request or any key."""


def _result(answer: Answer[Pong]) -> AgentCheck:
    report = answer.report
    error = report.error
    if answer.output is not None and not answer.output.ok:
        error = "the model answered, but not ok"
    return AgentCheck(
        agent=report.agent,
        model=report.model,
        ok=error is None,
        latency_s=report.latency_s,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        error=error,
    )


async def check_agents(
    consultants: Mapping[AgentName, Consultant], sessions: async_sessionmaker[AsyncSession]
) -> list[AgentCheck]:
    """Ask every consultant's model at once; record each call; return them in agent order."""
    pinger: Agent[None, Pong] = Agent(
        output_type=Pong, instructions=INSTRUCTIONS, name="triad-check"
    )
    names = [name for name in AgentName if name in consultants]
    answers = await asyncio.gather(
        *(consultants[name].ask(pinger, PROMPT, operation_id=None, alert=False) for name in names)
    )
    for answer in answers:
        async with sessions() as session:
            await agent_calls.record_call(session, answer.report, operation_id=None)
            await lifecycle.commit(session)
    return [_result(answer) for answer in answers]
