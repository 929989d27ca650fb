"""What ``--wait`` shows while it waits: the state, the current step and its progress, the time."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from types import TracebackType

from rich.status import Status

from triadops.cli.output import amount, console
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.operations import Operation

_MOVING = frozenset({StepStatus.RUNNING, StepStatus.ROLLING_BACK})


def describe(op: Operation) -> str:
    """Say where `op` is: its state and, while a step runs or rolls back, which one.

    A running step that reports progress shows its bytes done of the total and the rate.
    """
    total = len(op.plan.steps) if op.plan else len(op.steps)
    for step in op.steps:
        if step.status in _MOVING:
            verb = "rolling back" if step.status is StepStatus.ROLLING_BACK else "step"
            line = f"{op.status.value}: {verb} {step.index + 1}/{total} ({step.action})"
            if step.progress is not None and step.status is StepStatus.RUNNING:
                line += f": {amount(step.progress)}"
            return line
    if op.status is OperationStatus.EXECUTING and total:
        done = sum(s.status is StepStatus.SUCCEEDED for s in op.steps)
        return f"{op.status.value}: {done}/{total} steps done"
    return op.status.value


class Progress(AbstractContextManager["Progress"]):
    """A status line on stderr, redrawn with each reading: state, step, seconds waited.

    Quiet (``--json``) or not on a terminal, it shows nothing: stderr stays clean for
    scripts and logs.
    """

    def __init__(self, operation_id: str, *, quiet: bool = False) -> None:
        self.operation_id = operation_id
        self.started = time.monotonic()
        out = console(stderr=True)
        self.status: Status | None = None
        if not quiet and out.is_terminal:
            self.status = out.status(self._line("waiting"))

    def _line(self, where: str) -> str:
        elapsed = time.monotonic() - self.started
        return f"{self.operation_id}: {where}, {elapsed:.0f} s"

    @property
    def showing(self) -> bool:
        """True when the line is drawn (a terminal, not quiet)."""
        return self.status is not None

    def show(self, op: Operation) -> None:
        """Redraw the line for `op` as just read."""
        if self.status is not None:
            self.status.update(self._line(describe(op)))

    def __enter__(self) -> Progress:
        if self.status is not None:
            self.status.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.status is not None:
            self.status.stop()
