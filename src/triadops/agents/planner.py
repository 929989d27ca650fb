"""The planner (legislative): assesses a reviewed plan, or drafts one from a description.

Its answer can only tighten the rules' finding (``legislative.advice.stricter``): reject,
raise the risk, ask for more approvals. A drafted plan uses registered actions only, with
parameters each action's own model accepts; anything else is a rejection with the reason.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_ai import Agent

from triadops.actions.registry import ActionRegistry
from triadops.agents.answers import DATA_RULE, Notes, Said, Short
from triadops.agents.consult import Consultant, as_data
from triadops.constitution.advisors import PlanAdvice
from triadops.domain.enums import Authority, Risk
from triadops.domain.errors import TriadError
from triadops.domain.operations import (
    OperationRequest,
    Params,
    Plan,
    PlanningResult,
    StepSpec,
)

INSTRUCTIONS = (
    "You are the planner of triadops, the legislative branch of an operations control "
    "plane. You review a change to a production system after fixed rules have assessed "
    "it. Judge whether the plan is safe, proportionate to its description and reversible; "
    "name risks the rules may have missed. You cannot approve anything the rules refused "
    "and you cannot lower a risk or remove a required approval: your answer can only "
    "reject, raise the risk or ask for more approvals. When the request has no steps, "
    "draft them from the action catalogue only, with parameters that match each action's "
    "schema, or reject it if the catalogue cannot do it safely. " + DATA_RULE
)


class ProposedStep(BaseModel):
    """One step of a drafted plan: a catalogued action and its parameters."""

    action: Short
    params: Params = Field(default_factory=dict)


class PlannerOutput(BaseModel):
    """The planner's assessment, in the seed's shape."""

    approved: bool
    """False rejects the operation."""
    risk_level: Risk
    resource_requirements: dict[Short, Short] = Field(default_factory=dict, max_length=20)
    """What the change needs while it runs (time, CPU, disk, locks, people)."""
    scheduling_recommendation: Short = "immediate"
    rejection_reason: Said | None = None
    findings: Notes
    required_approvals: list[Authority] = Field(default_factory=list, max_length=4)
    """Approvals wanted on top of what the rules require."""
    steps: list[ProposedStep] = Field(default_factory=list, max_length=100)
    """Only when asked to draft a plan from a description."""


class PlannerAdvisor:
    """The planner agent behind the legislature's ``PlanAdvisor`` seam."""

    def __init__(self, consultant: Consultant, actions: ActionRegistry) -> None:
        """Consult through `consultant`; draft from `actions`' catalogue."""
        self.consultant = consultant
        self.actions = actions
        self.agent: Agent[None, PlannerOutput] = Agent(
            output_type=PlannerOutput, instructions=INSTRUCTIONS, name="triad-planner"
        )

    async def advise(
        self, request: OperationRequest, plan: Plan, finding: PlanningResult
    ) -> PlanAdvice:
        """Ask the model; turn its answer into advice that can only tighten."""
        drafting = not plan.steps
        answer = await self.consultant.ask(
            self.agent, self.prompt(request, plan, finding), operation_id=request.operation_id
        )
        out = answer.output
        if out is None:
            return PlanAdvice(failed=True, report=answer.report)
        notes = [f"planner: {f}" for f in out.findings]
        if out.resource_requirements:
            needs = ", ".join(f"{k}: {v}" for k, v in sorted(out.resource_requirements.items()))
            notes.append(f"planner: resources needed: {needs}")
        if out.scheduling_recommendation not in ("", "immediate"):
            notes.append(f"planner: schedule {out.scheduling_recommendation}")
        advice = PlanAdvice(
            reject=not out.approved,
            reason=out.rejection_reason
            or ("the planner rejected it" if not out.approved else None),
            raise_risk_to=out.risk_level,
            require=out.required_approvals,
            notes=notes,
            report=answer.report,
        )
        if drafting and out.approved:
            steps, refusal = self.drafted(out.steps)
            if refusal:
                advice.reject, advice.reason = True, refusal
            else:
                advice.steps = steps
        return advice

    def drafted(self, proposed: list[ProposedStep]) -> tuple[list[StepSpec], str | None]:
        """Validate a drafted plan against the catalogue; a refusal says which step and why."""
        if not proposed:
            return [], "the planner drafted no steps"
        steps = []
        for index, step in enumerate(proposed):
            where = f"drafted steps[{index}]"
            try:
                self.actions.get(step.action)
                params = self.actions.validate_params(step.action, step.params, where=where)
                spec = StepSpec(action=step.action, params=params.model_dump(mode="json"))
            except TriadError as exc:
                return [], f"{where}: {exc.message}"
            except ValueError as exc:
                return [], f"{where}: {str(exc).splitlines()[0]}"
            steps.append(spec)
        return steps, None

    def prompt(self, request: OperationRequest, plan: Plan, finding: PlanningResult) -> str:
        """The request, the plan with its dry runs and the rules' finding, as data."""
        asked = {
            "operation_type": request.operation_type.value,
            "authority": request.constitutional_authority.value,
            "description": request.description,
            "affected_systems": request.affected_systems,
            "rollback_plan": request.rollback_plan,
            "validation_criteria": request.validation_criteria,
            "emergency": request.is_emergency,
        }
        planned = [
            {
                "index": s.index,
                "action": s.action,
                "params": s.params,
                "risk": s.risk.value,
                "reversible": s.reversible,
                "dry_run": s.preview.model_dump(mode="json"),
            }
            for s in plan.steps
        ]
        rules = finding.model_dump(mode="json", exclude={"agent"})
        parts = [
            "The request:",
            as_data(asked),
            "The plan (each step's dry run included):",
            as_data(planned),
            "The rules' finding:",
            as_data(rules),
        ]
        if not plan.steps:
            catalogue = [
                {
                    "action": a.name,
                    "description": a.description,
                    "risk": a.risk.value,
                    "reversible": a.reversible,
                    "params_schema": a.params_model.model_json_schema(),
                }
                for a in self.actions
            ]
            parts += [
                "The request gives no steps: draft them from this catalogue.",
                as_data(catalogue),
            ]
        return "\n".join(parts)
