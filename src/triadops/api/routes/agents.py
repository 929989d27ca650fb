"""The AI triad's agents: whether each answers, how fast, how often it fails, what it costs."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from triadops.api.deps import Operator, ReadSessionDep, RuntimeDep, Viewer
from triadops.api.schemas import AgentChecks, AgentCheckView, problems
from triadops.domain.clock import utcnow
from triadops.domain.errors import TriadError
from triadops.ops.agents_health import AgentsHealth, agents_health

router = APIRouter(prefix="/agents", tags=["agents"], responses=problems(401))

CHECK_GRACE_S = 5.0
"""How much longer than one consultation's own deadline (``agents.timeout_s``) a check may run."""


class CheckTimedOut(TriadError):
    """The agents' check outlived its deadline."""

    status_code = 504


@router.get("/health", operation_id="read_agents_health")
async def read_agents_health(
    identity: Viewer, session: ReadSessionDep, runtime: RuntimeDep
) -> AgentsHealth:
    """Show each agent's model and its calls over the recent window (``agents.window_s``).

    Read from the recorded calls: no model is asked. Models are named as configured
    (``provider:model``, or ``rules`` where the rules decide alone), never with a key.
    """
    return await agents_health(session, runtime.settings, now=utcnow())


@router.post("/check", operation_id="check_agents", responses=problems(403, 504))
async def check_agents(identity: Operator, runtime: RuntimeDep) -> AgentChecks:
    """Hold each configured agent to its contract on a drill now, where the model keys live.

    Any of the four authorities may ask: each check costs model calls. The calls are recorded
    as every consultation is. With ``model = "rules"`` there is nothing to ask (``agents``
    empty). Bounded by ``agents.timeout_s`` (each consultation's deadline) plus a grace.
    """
    if runtime.agents is None:
        return AgentChecks(ok=True, agents=[])
    # Only now: the agent framework is loaded for a configured model alone.
    from triadops.agents.check import check_agents as check

    deadline_s = runtime.settings.agents.timeout_s + CHECK_GRACE_S
    try:
        async with asyncio.timeout(deadline_s):
            checks = await check(runtime.agents)
    except TimeoutError:
        raise CheckTimedOut(f"the agents' check did not end within {deadline_s:g} s") from None
    views = [AgentCheckView.model_validate(c.model_dump()) for c in checks]
    return AgentChecks(ok=all(c.ok for c in views), agents=views)
