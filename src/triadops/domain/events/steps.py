"""The ledger events of a step: each names the step, its action and its status after."""

from __future__ import annotations

from typing import Literal

from triadops.domain.events.base import LedgerEvent, Number


class StepEvent(LedgerEvent):
    """What every step entry carries, so a step's state replays from its last entry."""

    step: int
    action: str
    status: str


class StepStarted(StepEvent):
    """The executive started a step (committed before its action is called)."""

    kind: Literal["step_started"] = "step_started"
    attempt: int


class StepResumed(StepEvent):
    """The executive started an interrupted step again."""

    kind: Literal["step_resumed"] = "step_resumed"
    attempt: int


class _Outcome(StepEvent):
    error: str | None
    duration_s: Number


class StepSucceeded(_Outcome):
    """A step's action succeeded."""

    kind: Literal["step_succeeded"] = "step_succeeded"


class StepFailed(_Outcome):
    """A step's action failed."""

    kind: Literal["step_failed"] = "step_failed"


class StepCancelled(_Outcome):
    """The operation's cancel interrupted a step."""

    kind: Literal["step_cancelled"] = "step_cancelled"


class StepRuled(StepEvent):
    """An interrupted step was ruled on: by the probe or by a person."""

    kind: Literal["step_ruled"] = "step_ruled"
    took_effect: bool
    by: str


class RollbackStarted(StepEvent):
    """A step's undo started (or started again after an interruption)."""

    kind: Literal["rollback_started"] = "rollback_started"
    resumed: bool


class StepRolledBack(_Outcome):
    """A step's undo succeeded (or the step could not be undone and was skipped)."""

    kind: Literal["step_rolled_back"] = "step_rolled_back"


class StepRollbackFailed(_Outcome):
    """A step's undo failed."""

    kind: Literal["step_rollback_failed"] = "step_rollback_failed"
