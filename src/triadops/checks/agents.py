"""``agents_healthy``: every configured agent still answers after the change.

Measured as ``GET /agents/health`` reads it (``ops/agents_health.py``): each agent's kept
calls in the window ``agents.window_s``, newest first, at most the newest 1000. An agent
fails the check when its newest call in the window gave no valid answer, or when more than
half its calls in the window failed. An agent with no call in the window is not judged
unhealthy (nothing says it fails); with ``model = "rules"`` no agent is configured and the
check passes, saying so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import JsonValue

from triadops.checks.base import Check, CheckContext, Measurement
from triadops.checks.measurements import number, section
from triadops.domain.agents import BRANCH_AGENTS, RULES
from triadops.domain.operations import CheckResult, utcnow
from triadops.storage import agent_calls

MAX_ERROR_RATE = 0.5
"""More failed calls than this share of the window's calls is unhealthy."""


class AgentsHealthy(Check):
    """Each configured agent's newest call answered, and most of its recent calls did."""

    name: ClassVar[str] = "agents_healthy"
    description: ClassVar[str] = (
        "Each configured agent (planner, executor, evaluator) answered its newest call in the "
        "recent window and failed at most half of them (as GET /agents/health reports)"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Read each agent's recent calls: configured, calls, errors, whether it answers."""
        since = utcnow() - timedelta(seconds=ctx.settings.agents.window_s)
        agents: dict[str, JsonValue] = {}
        async with ctx.reading() as session:
            for agent in BRANCH_AGENTS:
                configured = ctx.settings.agent_model(agent.value) != RULES
                calls = await agent_calls.recent_calls(session, agent.value, since=since)
                agents[agent.value] = {
                    "configured": configured,
                    "calls": len(calls),
                    "errors": sum(not c.ok for c in calls),
                    "answering": calls[0].ok if calls and configured else None,
                }
        return {"window_s": ctx.settings.agents.window_s, "agents": agents}

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Judge the state after the change alone: every configured agent must answer."""
        agents = section(after.get("agents"))
        configured = [a for a, v in agents.items() if section(v).get("configured") is True]
        unwell: list[str] = []
        for agent in configured:
            state = section(agents[agent])
            calls, errors = number(state.get("calls")), number(state.get("errors"))
            if state.get("answering") is False:
                unwell.append(f"{agent}: its newest call gave no valid answer")
            elif calls and errors / calls > MAX_ERROR_RATE:
                unwell.append(f"{agent}: {errors:g} of {calls:g} recent calls failed")
        if not configured:
            detail = "no agent is configured (the rules decide alone): nothing to be unhealthy"
        elif unwell:
            detail = "unhealthy: " + "; ".join(unwell)
        else:
            detail = f"{', '.join(configured)} answer"
        return CheckResult(
            name=self.name, passed=not unwell, detail=detail, before=before, after=after
        )
