"""What the branches may use: settings, catalogues, databases and advisors."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from triadops.actions.base import ActionContext
from triadops.actions.registry import ActionRegistry
from triadops.checks.registry import CheckRegistry
from triadops.constitution.judicial.agent import RulesOnlyVerdictAdvisor, VerdictAdvisor
from triadops.constitution.legislative.agent import PlanAdvisor, RulesOnlyPlanAdvisor
from triadops.settings import Settings
from triadops.storage.targets import DatabaseTargets


@dataclass(frozen=True)
class Powers:
    """The means of government, built once by the runtime and handed to every branch."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    databases: DatabaseTargets
    actions: ActionRegistry
    checks: CheckRegistry
    plan_advisor: PlanAdvisor = field(default_factory=RulesOnlyPlanAdvisor)
    verdict_advisor: VerdictAdvisor = field(default_factory=RulesOnlyVerdictAdvisor)


def action_context(
    powers: Powers, *, operation_id: str, step_index: int, idempotency_key: str
) -> ActionContext:
    """Build what an action sees for one step of one operation."""
    return ActionContext(
        settings=powers.settings,
        databases=powers.databases,
        operation_id=operation_id,
        step_index=step_index,
        idempotency_key=idempotency_key,
        log=structlog.stdlib.get_logger().bind(operation_id=operation_id, step=step_index),
    )
