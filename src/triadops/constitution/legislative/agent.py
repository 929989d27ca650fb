"""The planner's seam: an advisor that may make a planning decision stricter, never looser.

The offline default is rules only. A pydantic-ai planner agent plugs in here by returning
the same structured :class:`PlanAdvice`.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from triadops.domain.enums import Risk
from triadops.domain.operations import OperationRequest, Plan, PlanningResult


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
