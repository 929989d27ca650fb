"""The AI triad's agents: whether each answers, how fast, how often it fails, what it costs."""

from __future__ import annotations

from fastapi import APIRouter

from triadops.api.deps import ReadSessionDep, RuntimeDep, Viewer
from triadops.api.schemas import problems
from triadops.domain.clock import utcnow
from triadops.ops.agents_health import AgentsHealth, agents_health

router = APIRouter(prefix="/agents", tags=["agents"], responses=problems(401))


@router.get("/health", operation_id="read_agents_health")
async def read_agents_health(
    identity: Viewer, session: ReadSessionDep, runtime: RuntimeDep
) -> AgentsHealth:
    """Show each agent's model and its calls over the recent window (``agents.window_s``).

    Read from the recorded calls: no model is asked. Models are named as configured
    (``provider:model``, or ``rules`` where the rules decide alone), never with a key.
    """
    return await agents_health(session, runtime.settings, now=utcnow())
