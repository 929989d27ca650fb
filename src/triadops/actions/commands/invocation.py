"""The seam between a command action and where its process runs: here, or on a host over SSH."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import JsonValue

from triadops.actions.masking import Masker

__all__ = ["Completed", "Invocation", "Runner"]


@dataclass(frozen=True, slots=True)
class Invocation:
    """One process to start: rendered argument list, environment, bounds."""

    argv: tuple[str, ...]
    """Rendered arguments; never joined into a shell string by the local runner."""
    env: Mapping[str, str]
    """Resolved environment values (secrets included): pass to the process, never log."""
    cwd: str | None
    timeout_s: float
    """Past this, the whole process group (local) or remote process (SSH) is killed."""
    output_limit: int
    """Bytes kept of stdout and of stderr each; the rest is dropped and marked."""
    mask: Masker = field(default_factory=lambda: Masker(()))
    """Applied to everything captured before it leaves the runner."""


@dataclass(frozen=True, slots=True)
class Completed:
    """What a finished, failed or killed process left: masked, bounded output."""

    exit_code: int | None
    """None when the process was killed (timeout, cancel) or never started."""
    stdout: str
    stderr: str
    truncated: bool
    timed_out: bool
    duration_s: float

    def as_output(self) -> dict[str, JsonValue]:
        """Return the record kept in the step's output."""
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "truncated": self.truncated,
            "timed_out": self.timed_out,
            "duration_s": round(self.duration_s, 3),
        }


class Runner(Protocol):
    """Where an invocation runs; `run` returns once the process is gone, whatever happened."""

    async def run(self, invocation: Invocation) -> Completed:
        """Run `invocation` to its end or its timeout; cancelling kills the process too."""
        ...
