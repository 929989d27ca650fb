"""Each agent's recent health: is it answering, how fast, how often it fails, what it costs.

Read from the kept calls (`storage.agent_calls`) over the window ``agents.window_s``: at
most `agent_calls.WINDOW_CALLS` of each agent's newest calls, so the cost does not grow
with history (in a busier window the figures cover its newest calls). Framework-free: the
agents need not be built, and with ``model = "rules"`` nothing of pydantic-ai is loaded.
Models are named as people read them (`Settings.agent_model_display`), never by a key;
errors were scrubbed of keys when the call was recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.agents import BRANCH_AGENTS, RULES, AgentName
from triadops.settings import Settings
from triadops.storage import agent_calls

MAX_ERROR_CHARS = 300
"""The longest `AgentHealth.last_error` shown; a recorded error is one line already."""


class AgentHealth(BaseModel):
    """One agent's figures over the window."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    agent: AgentName
    model: str
    """The model it consults as people read it (``provider:model``), or ``rules``."""
    configured: bool
    """False when the rules decide alone (its model is ``rules``)."""
    answering: bool | None
    """Whether its newest call in the window gave a valid answer; None when it made no call
    in the window or is not configured."""
    calls: int
    """Calls in the window (at most the newest 1000)."""
    errors: int
    """Calls in the window that gave no valid answer."""
    error_rate: float | None
    """`errors` over `calls`, 0 to 1; None without calls."""
    latency_p50_s: float | None
    """Median call latency in seconds (nearest rank); None without calls."""
    latency_p95_s: float | None
    """95th percentile call latency in seconds (nearest rank); None without calls."""
    tokens: int
    """Input and output tokens the window's calls used."""
    last_call_at: datetime | None
    """When its newest call in the window ended."""
    last_error: str | None
    """What went wrong in its newest failed call in the window, in one line."""


class AgentsHealth(BaseModel):
    """The three agents' health over the recent window."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    window_s: float
    """The recent past the figures cover, in seconds (``agents.window_s``)."""
    checked_at: datetime
    """When the figures were read; the window ends here."""
    agents: list[AgentHealth]
    """Planner, executor and evaluator, in that order."""


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Return the `p`-th percentile (0 < p <= 100) of ascending values by nearest rank.

    The value at rank ``ceil(p / 100 * n)``: always a latency that was observed, never an
    interpolation between two calls.
    """
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _one_line(error: str | None) -> str | None:
    if error is None:
        return None
    line = " ".join(error.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def _figures(
    agent: AgentName, calls: Sequence[agent_calls.Call], *, model: str, configured: bool
) -> AgentHealth:
    latencies = sorted(call.latency_s for call in calls)
    errors = [call for call in calls if not call.ok]
    newest = calls[0] if calls else None
    return AgentHealth(
        agent=agent,
        model=model,
        configured=configured,
        answering=newest.ok if newest is not None and configured else None,
        calls=len(calls),
        errors=len(errors),
        error_rate=len(errors) / len(calls) if calls else None,
        latency_p50_s=percentile(latencies, 50) if latencies else None,
        latency_p95_s=percentile(latencies, 95) if latencies else None,
        tokens=sum(call.tokens for call in calls),
        last_call_at=newest.at if newest is not None else None,
        last_error=_one_line(errors[0].error or "no valid answer") if errors else None,
    )


async def agents_health(
    session: AsyncSession, settings: Settings, *, now: datetime
) -> AgentsHealth:
    """Read each agent's calls in the window ending `now` and sum them up.

    One bounded, indexed read per agent (``agent_calls (agent, at)``), newest first.
    """
    window_s = settings.agents.window_s
    since = now - timedelta(seconds=window_s)
    found = []
    for agent in BRANCH_AGENTS:
        calls = await agent_calls.recent_calls(session, agent.value, since=since)
        found.append(
            _figures(
                agent,
                calls,
                model=settings.agent_model_display(agent.value),
                configured=settings.agent_model(agent.value) != RULES,
            )
        )
    return AgentsHealth(window_s=window_s, checked_at=now, agents=found)
