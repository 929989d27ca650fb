"""``noop`` and ``noop.once``: actions that only wait, with knobs for drills and tests."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from triadops.actions.base import Action, ActionContext, Output
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed, InvalidRequest
from triadops.domain.operations import StepPreview


class NoopParams(BaseModel):
    """Knobs of the no-op actions."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    sleep_s: float = Field(default=0.0, ge=0, le=3600)
    """Seconds to wait before finishing."""
    fail: bool = False
    """Raise after the wait, failing the step."""
    fail_rollback: bool = False
    """Raise from rollback, failing the undo."""
    rollback_sleep_s: float = Field(default=0.0, ge=0, le=3600)
    """Seconds the rollback waits after marking its start."""
    marker: str | None = Field(default=None, min_length=1, max_length=4096)
    """A file in the drill folder ``$TRIAD_HOME/drills`` (a relative name is taken inside it)
    that gets one line per start of ``run`` (the idempotency key) and per rollback
    (``rollback <key>``), so drills can count how often a step really ran."""


def _marker(ctx: ActionContext, marker: str | None) -> Path | None:
    """Resolve the marker file, which must lie inside the drill folder ``$TRIAD_HOME/drills``.

    Not merely inside the data folder: that holds triad's own database and its ``-wal`` and
    ``-shm`` files, and a low-risk drill must not append to them. The path is resolved first,
    so ``..`` and symlinks (the drill folder itself included) cannot lead out.
    """
    if marker is None:
        return None
    drills = ctx.settings.home.resolve() / "drills"
    path = (drills / marker).resolve()
    if path == drills or not path.is_relative_to(drills):
        raise InvalidRequest(
            f"marker {marker!r} is outside the drill folder {drills}", field="marker"
        )
    return path


def _mark(ctx: ActionContext, marker: str | None, line: str) -> None:
    path = _marker(ctx, marker)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_NOFOLLOW: a symlink put in the marker's place after the check is not followed.
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o644), "a", encoding="utf-8") as file:
        file.write(line + "\n")


class NoopAction(Action[NoopParams]):
    """Wait, optionally fail; safe to resume after an interruption."""

    name: ClassVar[str] = "noop"
    description: ClassVar[str] = "Do nothing for sleep_s seconds; fail on request (drills)"
    params_model: ClassVar[type[BaseModel]] = NoopParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True
    timeout_s: ClassVar[float] = 3700.0
    interruptible: ClassVar[bool] = True

    async def preview(self, ctx: ActionContext, params: NoopParams) -> StepPreview:
        """Say how long the step would wait and whether it would fail."""
        outcome = "then fail" if params.fail else "then succeed"
        return StepPreview(
            summary=f"wait {params.sleep_s:g} s, {outcome}; touches nothing",
            touches=[str(_marker(ctx, params.marker))] if params.marker else [],
            amounts={"sleep_s": params.sleep_s},
        )

    async def run(self, ctx: ActionContext, params: NoopParams) -> Output:
        """Mark the start, wait, then succeed or raise ActionFailed as asked."""
        # Marked before the wait: a worker killed mid-sleep still leaves its line, so a
        # second start after recovery shows up as a second line.
        _mark(ctx, params.marker, ctx.idempotency_key)
        # A cancel interrupts the sleep (CancelledError); there is nothing to tidy up.
        await asyncio.sleep(params.sleep_s)
        if params.fail:
            raise ActionFailed(f"{self.name} asked to fail")
        return {"slept_s": params.sleep_s}

    async def rollback(self, ctx: ActionContext, params: NoopParams, output: Output) -> Output:
        """Mark the rollback, then succeed or raise ActionFailed as asked."""
        _mark(ctx, params.marker, f"rollback {ctx.idempotency_key}")
        await asyncio.sleep(params.rollback_sleep_s)
        if params.fail_rollback:
            raise ActionFailed(f"{self.name} rollback asked to fail")
        return {"undone": True}


class NoopOnceAction(NoopAction):
    """The same wait, declared neither safe to repeat nor to interrupt.

    A run interrupted by a crash goes in doubt; a cancel waits for the run to end.
    """

    name: ClassVar[str] = "noop.once"
    description: ClassVar[str] = (
        "Like noop, but declared non-idempotent and non-interruptible (crash drills)"
    )
    idempotent: ClassVar[bool] = False
    interruptible: ClassVar[bool] = False

    async def probe(self, ctx: ActionContext, params: NoopParams) -> bool | None:
        """Cannot tell whether an interrupted run took effect."""
        return None
