"""What the branches may use: settings, catalogues, databases and advisors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from triadops.actions.base import ActionContext, AlertRaiser
from triadops.actions.procedures import ProcedureCatalogue
from triadops.actions.registry import ActionRegistry
from triadops.checks.registry import CheckRegistry
from triadops.constitution.advisors import PlanAdvisor, StepExecutor, VerdictAdvisor
from triadops.constitution.sops import SopCatalogue
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
    procedures: ProcedureCatalogue
    """The declared procedures, checked against `actions` and `checks` when loaded."""
    sops: SopCatalogue
    """The standard operating procedures in force, by the operation type each governs."""
    plan_advisor: PlanAdvisor | None = None
    """The planner agent; None: the rules decide alone, in the submission's transaction."""
    step_executor: StepExecutor | None = None
    """The executor agent; None: the executive runs each approved step itself."""
    verdict_advisor: VerdictAdvisor | None = None
    """The evaluator agent; None: the measured verdict stands as it is."""
    alerts: AlertRaiser | None = None
    """What an action raises alerts through (ops' alert service); None: it cannot."""

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """Yield a session that only reads: on SQLite it takes no lock and waits for no writer."""
        async with self.sessions() as session:
            # storage.engine.READ_ONLY: a deferred BEGIN on SQLite.
            await session.connection(execution_options={"triad_read_only": True})
            yield session


def action_context(
    powers: Powers,
    *,
    operation_id: str,
    step_index: int,
    idempotency_key: str,
    failed_hosts: int = 0,
    stop: asyncio.Event | None = None,
) -> ActionContext:
    """Build what an action sees for one step of one operation (`stop`: a fresh event)."""
    return ActionContext(
        settings=powers.settings,
        databases=powers.databases,
        operation_id=operation_id,
        step_index=step_index,
        idempotency_key=idempotency_key,
        log=structlog.stdlib.get_logger("triadops.actions").bind(
            operation_id=operation_id, step=step_index
        ),
        stop=asyncio.Event() if stop is None else stop,
        failed_hosts=failed_hosts,
        alerts=powers.alerts,
    )
