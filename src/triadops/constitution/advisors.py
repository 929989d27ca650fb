"""The agents' seams: what a planner, an executor or an evaluator may say.

Advice can only make a decision stricter: a planner may reject, raise the risk or add
required approvals; an executor may report trouble with a step it ran, which fails the
operation; an evaluator may fail a verdict, never pass one. Policy is code; agents advise.
An advisor that cannot answer says so (``failed``), and the decision goes to a person
(the planner) or fails (the executor, the evaluator): never to an automatic yes.

With no advisor configured (``model = "rules"``), ``Powers`` holds None and the rules
decide alone, in the same transaction as before. The runtime hands the advisors to the
branches through ``Powers``, so no branch imports another's agent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from pydantic import BaseModel, Field, JsonValue

from triadops.domain.agents import AgentReport
from triadops.domain.enums import Authority, Risk
from triadops.domain.operations import (
    Operation,
    OperationRequest,
    Plan,
    PlannedStep,
    PlanningResult,
    StepSpec,
    ValidationResult,
)


class PlanAdvice(BaseModel):
    """What a planner may say about a plan."""

    reject: bool = False
    reason: str | None = None
    raise_risk_to: Risk | None = None
    require: list[Authority] = Field(default_factory=list)
    """Approvals the planner wants on top of what the rules require."""
    notes: list[str] = Field(default_factory=list)
    failed: bool = False
    """The planner gave no valid answer: a person must decide."""
    steps: list[StepSpec] | None = None
    """A plan the planner drafted for a request that gave only a description."""
    procedure: str | None = None
    """The declared procedure the drafted steps come from, when the planner chose one: its
    rollback plan, criteria and affected systems stand where the request gave none, as for
    a request that names it."""
    report: AgentReport | None = None


class PlanAdvisor(Protocol):
    """Anything that reviews a plan after the rules have (or drafts one from a description)."""

    async def advise(
        self, request: OperationRequest, plan: Plan, finding: PlanningResult
    ) -> PlanAdvice:
        """Return advice on the rules' finding; never raise for the model's failure."""
        ...


class StepAdvice(BaseModel):
    """What an executor says about the one step it was handed."""

    trouble: str | None = None
    """The executor reported the step as failed or asked for a rollback: the operation fails."""
    violation: str | None = None
    """The executor tried to call something outside the approved plan, or out of order."""
    failed: bool = False
    """The executor gave no valid report: the operation fails (fail closed)."""
    report: AgentReport | None = None


RunStep = Callable[[], Awaitable[dict[str, JsonValue]]]
"""Runs the handed step's registered action (at most once) and returns what it did."""


class StepExecutor(Protocol):
    """Anything that runs a step of an approved plan through its one tool and reports."""

    async def execute(self, operation: Operation, step: PlannedStep, run: RunStep) -> StepAdvice:
        """Let the agent call `run` (the step's tool) and report; never raise for the model."""
        ...


class VerdictAdvice(BaseModel):
    """What an evaluator may say about a verdict."""

    fail: bool = False
    reason: str | None = None
    recommendations: list[str] = Field(default_factory=list)
    failed: bool = False
    """The evaluator gave no valid answer: the verdict fails (fail closed)."""
    report: AgentReport | None = None


class VerdictAdvisor(Protocol):
    """Anything that reviews a verdict after the checks have."""

    async def advise(self, operation: Operation, verdict: ValidationResult) -> VerdictAdvice:
        """Return advice on the checks' verdict; never raise for the model's failure."""
        ...
