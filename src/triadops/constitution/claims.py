"""A claimed operation as the branches see it on a worker's journey.

The journey dispatches the operation's state to the stages of the branches (``legislative``,
``executive`` and ``judicial``'s ``stages`` modules); each stage reads the claim, commits what
it decides through the journey's :class:`Drive`, and answers with a :class:`Progress`. The
branches never call each other: what one leaves for the next within one state (a baseline,
a step's outcome, a halt) lies in the drive's :class:`Handover`, everything else in the rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.advisors import StepAdvice
from triadops.constitution.powers import Powers
from triadops.domain.enums import OperationStatus as S
from triadops.domain.enums import StepStatus
from triadops.domain.operations import Operation, ValidationResult
from triadops.storage.records import operation_view
from triadops.storage.tables import ApprovalRow, OperationRow, StepRow

T = TypeVar("T")


class LeaseLost(Exception):
    """The lease expired or another worker took over; this worker must stop touching it."""


@dataclass(frozen=True, slots=True)
class Tick:
    """What a unit learns at commit time, read under the lock it commits with.

    `status` and `plan_hash` are the operation's stored values (None for submissions): a
    unit whose in-memory view differs is working on a superseded state and must not write.
    """

    frozen: bool
    cancel_requested_by: str | None
    status: str | None = None
    plan_hash: str | None = None


class Progress(StrEnum):
    """What a stage did with the claim: the journey goes on only while it advanced."""

    ADVANCED = "advanced"
    """Committed a change and still holds the claim: the journey reads the state again."""
    WAITING = "waiting"
    """Released the claim: the operation waits for a person, its time or the thaw."""
    ENDED = "ended"
    """Released the claim in a final state."""
    LEASE_LOST = "lease_lost"
    """Another worker has the operation; nothing more is written."""


FINAL = frozenset({S.COMPLETED, S.FAILED, S.REJECTED, S.ROLLED_BACK, S.CANCELLED})


def released(row: OperationRow) -> Progress:
    """The progress of a stage that released the claim: ended, or waiting."""
    return Progress.ENDED if S(row.status) in FINAL else Progress.WAITING


@dataclass
class Claimed:
    """An operation leased by this worker, with its steps and approvals."""

    row: OperationRow
    steps: list[StepRow]
    approvals: list[ApprovalRow]

    def view(self) -> Operation:
        return operation_view(self.row, self.steps, self.approvals)

    def next_pending(self) -> StepRow | None:
        """The first step not yet started, if any."""
        return next((s for s in self.steps if s.status == StepStatus.PENDING.value), None)

    def running(self) -> StepRow | None:
        """The step marked running, if any (started here, or interrupted elsewhere)."""
        return next((s for s in self.steps if s.status == StepStatus.RUNNING.value), None)


@dataclass
class StepOutcome:
    """What happened when an action (or its rollback) ran."""

    ok: bool
    output: dict[str, JsonValue] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    stopped: bool = False
    """The operation's cancel interrupted the action midway (never with `ok`)."""


@dataclass(frozen=True, slots=True)
class Ran:
    """A step the executive ran and has not recorded yet."""

    step: StepRow
    outcome: StepOutcome
    advice: StepAdvice | None = None


@dataclass(frozen=True, slots=True)
class Halt:
    """The judiciary's finding that a loud alert stops the change before its next step."""

    verdict: ValidationResult
    by: str


@dataclass
class Handover:
    """What one branch leaves for the next within one state; never stored as such."""

    baseline: dict[str, Any] | None = None
    """The judiciary's measurements before the first step, for the executive to keep."""
    ran: Ran | None = None
    """The step the executive just ran, for the judiciary to weigh before it is recorded."""
    halt: Halt | None = None
    """The judiciary's halt, for the executive to record with the step."""


Apply = Callable[[AsyncSession, Tick], Progress | Awaitable[Progress]]
"""A stage's decision, applied in the journey's next commit."""


class Drive(Protocol):
    """The journey's means, as the branches' stages use them."""

    powers: Powers
    claimed: Claimed
    executive: str
    """The actor the executive records as: ``executive:<worker>``."""
    started_here: set[int]
    """Steps this journey started: any other found running was interrupted."""
    undone_here: set[int]
    """Steps whose rollback this journey started."""
    handover: Handover

    @property
    def stop(self) -> asyncio.Event:
        """Set when the operation's cancel should interrupt the running action."""
        ...

    @property
    def cancelled_by(self) -> str | None:
        """Who cancelled, as the lease keeper read it while a step ran."""
        ...

    async def commit(self, apply: Apply) -> Progress:
        """Apply a decision and commit it, only while the claim is still ours."""
        ...

    async def heartbeat(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` while the lease is kept; a lost lease cancels it."""
        ...

    def release(self) -> None:
        """Give the claim up in the commit being applied."""
        ...

    def watch(self, interruptible: bool) -> None:
        """Read the cancel request often while an interruptible step runs, or stop."""
        ...

    def fail(self, session: AsyncSession, reason: str, *, actor: str) -> Progress:
        """Fail the operation (rolling back what ran) in the commit being applied."""
        ...


Stage = Callable[[Drive], Awaitable[Progress | None]]
"""A branch's part in one state: its progress, or None to let the next part decide."""
