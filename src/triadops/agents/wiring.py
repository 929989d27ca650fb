"""Build the agents the settings configure; the rules need none of this."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triadops import tracing
from triadops.actions.procedures import ProcedureCatalogue
from triadops.actions.registry import ActionRegistry
from triadops.agents.consult import Consultant, Limiters
from triadops.agents.evaluator import EvaluatorAdvisor
from triadops.agents.executor import StepExecutorAgent
from triadops.agents.planner import PlannerAdvisor
from triadops.domain.agents import RULES, AgentName
from triadops.settings import Settings


@dataclass(frozen=True)
class Agents:
    """The configured agents; None where the rules decide alone."""

    planner: PlannerAdvisor | None
    executor: StepExecutorAgent | None
    evaluator: EvaluatorAdvisor | None
    consultants: dict[AgentName, Consultant]

    async def aclose(self) -> None:
        """Close the models' HTTP clients."""
        for consultant in self.consultants.values():
            await consultant.aclose()


def build(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    actions: ActionRegistry,
    procedures: ProcedureCatalogue | None = None,
) -> Agents:
    """Build each agent whose model is not ``rules``; models are built on first use."""
    tracing.configure()
    limiters = Limiters(settings.agents.concurrency)
    consultants = {
        name: Consultant(name, settings=settings, sessions=sessions, limiters=limiters)
        for name in AgentName
        if settings.agent_model(name.value) != RULES
    }
    planner = consultants.get(AgentName.PLANNER)
    executor = consultants.get(AgentName.EXECUTOR)
    evaluator = consultants.get(AgentName.EVALUATOR)
    return Agents(
        planner=PlannerAdvisor(planner, actions, procedures) if planner else None,
        executor=StepExecutorAgent(executor) if executor else None,
        evaluator=EvaluatorAdvisor(evaluator) if evaluator else None,
        consultants=consultants,
    )
