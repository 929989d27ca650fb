"""The advisors' seams: what a planner or an evaluator may say, and the rules-only defaults.

Advice can only make a decision stricter: a planner may reject, raise the risk or add
notes; an evaluator may fail a verdict or add recommendations, never pass one. Policy is
code; agents advise. The branches' agents implement these protocols; the runtime hands
them to the branches through ``Powers``, so no branch imports another's agent.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from triadops.domain.enums import Risk
from triadops.domain.operations import (
    Operation,
    OperationRequest,
    Plan,
    PlanningResult,
    ValidationResult,
)


class PlanAdvice(BaseModel):
    """What an advisor may say about a plan."""

    reject: bool = False
    reason: str | None = None
    raise_risk_to: Risk | None = None
    notes: list[str] = Field(default_factory=list)


class PlanAdvisor(Protocol):
    """Anything that reviews a plan after the rules have."""

    async def advise(
        self, request: OperationRequest, plan: Plan, finding: PlanningResult
    ) -> PlanAdvice:
        """Return advice on the rules' finding."""
        ...


class RulesOnlyPlanAdvisor:
    """The offline default: no advice beyond the rules."""

    async def advise(
        self, request: OperationRequest, plan: Plan, finding: PlanningResult
    ) -> PlanAdvice:
        """Return empty advice."""
        return PlanAdvice()


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
