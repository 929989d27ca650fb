"""The evaluator's seam: an advisor that may fail a verdict or add findings, never pass one.

A measured check that failed cannot be overturned: advice is applied after the checks and
can only turn a pass into a fail.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from triadops.domain.operations import Operation, ValidationResult


class VerdictAdvice(BaseModel):
    """What an advisor may say about a verdict."""

    fail: bool = False
    reason: str | None = None
    recommendations: list[str] = Field(default_factory=list)


class VerdictAdvisor(Protocol):
    """Anything that reviews a verdict after the checks have."""

    async def advise(self, operation: Operation, verdict: ValidationResult) -> VerdictAdvice:
        """Return advice on the checks' verdict."""
        ...


class RulesOnlyVerdictAdvisor:
    """The offline default: the measured verdict stands as it is."""

    async def advise(self, operation: Operation, verdict: ValidationResult) -> VerdictAdvice:
        """Return empty advice."""
        return VerdictAdvice()
