"""What every action is: typed params, declared risk, run, rollback, dry run, probe."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import structlog
from pydantic import BaseModel, JsonValue

from triadops.actions.progress import Meter, Reporter
from triadops.domain.alerts import AlertIn
from triadops.domain.enums import Risk
from triadops.domain.operations import StepPreview
from triadops.settings import Settings
from triadops.storage.targets import OWN_DATABASE, DatabaseTargets

__all__ = ["RUNS_TO_ITS_END", "Action", "ActionContext", "AlertRaiser", "Output"]

P = TypeVar("P", bound=BaseModel)
Output = dict[str, JsonValue]
AlertRaiser = Callable[[Sequence[AlertIn]], Awaitable[None]]
"""Stores alerts through ops' alert service (dedup, silences, the ledger), in a short
transaction of its own; raises when they could not be stored."""
RUNS_TO_ITS_END = "cannot be interrupted: a cancel stops the operation after this step"
"""What a plan's preview says of a step whose action is not interruptible."""


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action may reach while it runs: settings, databases, its identity."""

    settings: Settings
    databases: DatabaseTargets
    operation_id: str
    step_index: int
    idempotency_key: str
    """Stable for this step across retries; hand it to anything that deduplicates."""
    log: structlog.stdlib.BoundLogger
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the operation's cancel reaches this step while it runs.

    An ``interruptible`` action's ``run`` is also cancelled at that moment (asyncio
    cancellation); any action may read the flag between stages of its own work.
    """
    failed_hosts: int = 0
    """Hosts the operation's earlier steps failed on (their outputs' ``failed_hosts``):
    what an operation-wide failure budget has spent before this step."""
    interrupted: Output = field(default_factory=dict)
    """What a run cut short (a cancel, the step's timeout) leaves to be recorded as the
    step's output, since it cannot return it: filled by the action as it unwinds."""
    alerts: AlertRaiser | None = None
    """Raise or resolve alerts (never while a transaction is open); None where no alert
    service is wired, as in a bare context."""

    def progress(
        self, what: str, total_bytes: int | None, *, watch: Path | None = None
    ) -> AbstractAsyncContextManager[Meter]:
        """Measure a long stage of this step's work; its progress is stored on the step.

        Update the yielded meter from the work (any thread), or name a growing file to
        `watch`; readings are stored about every ``step_progress_s`` seconds and once at the
        end, each in a short transaction of its own (see ``actions.progress``).
        """
        reporter = Reporter(
            self.databases.get(OWN_DATABASE),
            self.operation_id,
            self.step_index,
            interval_s=self.settings.step_progress_s,
            log=self.log,
        )
        return reporter.stage(what, total_bytes, watch)


class Action(ABC, Generic[P]):
    """A registered thing the executive may do.

    Conventions for ``run`` outputs: ``deleted_rows`` maps table names to the number of rows
    the step deleted on purpose, so ``no_data_loss`` does not count them as lost; the target
    database, when there is one, is the ``target`` param; ``failed_hosts`` counts the hosts a
    step failed on, which the executive adds up for the next steps (``ActionContext``).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]
    risk: ClassVar[Risk]
    reversible: ClassVar[bool]
    """True when ``rollback`` can undo ``run``."""
    idempotent: ClassVar[bool]
    """True when running again after an interruption is safe (the step is resumed)."""
    timeout_s: ClassVar[float] = 300.0
    interruptible: ClassVar[bool] = False
    """True when a cancel may stop ``run`` midway: the executive cancels its task, and
    ``run`` leaves nothing half done as it unwinds (it kills its process group, drops its
    HTTP request, undoes a partial write) before the ``CancelledError`` goes on, exactly
    as when it fails. The step is then recorded as cancelled, and the operation's earlier
    steps are rolled back. False (the default, and the only honest answer for work that
    runs in a thread): a cancel waits for the step to end and stops the operation there."""

    @abstractmethod
    async def preview(self, ctx: ActionContext, params: P) -> StepPreview:
        """Say what ``run`` would touch and how much, changing nothing."""

    @abstractmethod
    async def run(self, ctx: ActionContext, params: P) -> Output:
        """Do the work and return what was done; raise to fail the step."""

    async def rollback(self, ctx: ActionContext, params: P, output: Output) -> Output:
        """Undo ``run``; the default has nothing to undo."""
        return {"undone": False, "reason": f"{self.name} has nothing to undo"}

    def definition(self) -> str | None:
        """Return a digest of what this action runs when configuration declares it.

        A plan pins it at review; the executive refuses a step whose action's definition
        changed since. None (the default): the action's code is its definition.
        """
        return None

    async def probe(self, ctx: ActionContext, params: P) -> bool | None:
        """After an interrupted run, tell whether it took effect; None when it cannot tell."""
        return None

    def parse(self, params: dict[str, JsonValue]) -> P:
        """Validate raw params into the action's model."""
        return self.params_model.model_validate(params)  # type: ignore[return-value]
