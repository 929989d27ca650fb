"""What every check is: a measurement taken before and after, and a verdict."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from triadops.domain.operations import CheckResult, Operation
from triadops.settings import Settings
from triadops.storage.targets import DatabaseTargets

__all__ = ["Check", "CheckContext", "Measurement"]

Measurement = dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a check may look at: the operation, settings and the databases it touched."""

    settings: Settings
    databases: DatabaseTargets
    own: AsyncEngine
    """Triad's own database, for checks that read the ledger or baselines."""
    operation: Operation
    database_targets: list[str] = field(default_factory=lambda: ["triad"])
    """Names of the databases the plan works on."""

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """Yield a session on triad's own database that only reads (no write lock on SQLite)."""
        async with AsyncSession(self.own) as session:
            # storage.engine.READ_ONLY: a deferred BEGIN on SQLite.
            await session.connection(execution_options={"triad_read_only": True})
            yield session


class Check(ABC):
    """A registered criterion the judiciary may measure."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    async def measure(self, ctx: CheckContext) -> Measurement:
        """Measure the current state; called once before execution and once after."""

    @abstractmethod
    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Compare the two measurements and say whether the criterion holds."""
