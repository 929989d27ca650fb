"""The planner (legislative): assesses a reviewed plan, or drafts one from a description.

Its answer can only tighten the rules' finding (``legislative.advice.stricter``): reject,
raise the risk, ask for more approvals. A drafted plan uses registered actions only, with
parameters each action's own model accepts; anything else is a rejection with the reason.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, JsonValue
from pydantic_ai import Agent

from triadops.actions.procedures import Procedure, ProcedureCatalogue
from triadops.actions.registry import ActionRegistry
from triadops.agents.answers import DATA_RULE, Notes, Said, Short
from triadops.agents.consult import Consultant, as_data
from triadops.constitution.advisors import PlanAdvice
from triadops.domain.enums import Authority, Risk
from triadops.domain.errors import NotFound, TriadError
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
    "schema, or name one procedure from the procedure catalogue with its parameters, or "
    "reject it if the catalogues cannot do it safely. " + DATA_RULE
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
    procedure: Short | None = None
    """Instead of steps, when drafting: a procedure from the catalogue offered."""
    procedure_params: Params = Field(default_factory=dict)
    """The procedure's parameters, as it declares them."""


class PlannerAdvisor:
    """The planner agent behind the legislature's ``PlanAdvisor`` seam."""

    def __init__(
        self,
        consultant: Consultant,
        actions: ActionRegistry,
        procedures: ProcedureCatalogue | None = None,
    ) -> None:
        """Consult through `consultant`; draft from `actions` and `procedures`."""
        self.consultant = consultant
        self.actions = actions
        self.procedures = procedures or ProcedureCatalogue()
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
            proposed = out.steps
            if out.procedure is not None:
                found = self.from_procedure(request, out.procedure, out.procedure_params)
                if isinstance(found, str):
                    advice.reject, advice.reason = True, found
                    return advice
                procedure, proposed = found
                if procedure.risk.rank > out.risk_level.rank:  # its declared risk is a floor
                    advice.raise_risk_to = procedure.risk
                advice.notes.append(f"planner: drafted procedure {procedure.name}")
                advice.procedure = procedure.name
            steps, refusal = self.drafted(proposed)
            if refusal:
                advice.reject, advice.reason = True, refusal
            else:
                advice.steps = steps
        return advice

    def from_procedure(
        self, request: OperationRequest, name: str, params: dict[str, JsonValue]
    ) -> tuple[Procedure, list[ProposedStep]] | str:
        """Render a drafted procedure's steps; or say why it cannot stand for the request."""
        try:
            procedure = self.procedures.get(name)
        except NotFound as exc:
            return f"drafted procedure: {exc.message}"
        if not _fits(procedure, request):
            return (
                f"drafted procedure: {name} is not for a {request.operation_type.value} "
                f"request under {request.constitutional_authority.value} authority"
            )
        try:
            steps = procedure.rendered(procedure.arguments(params))
        except TriadError as exc:
            return f"drafted procedure {name}: {exc.message}"
        return procedure, [ProposedStep(action=s.action, params=s.params) for s in steps]

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
            procedures = self.fitting_procedures(request)
            if procedures:
                parts += [
                    "Or name one of these procedures (with its params) instead of steps:",
                    as_data(procedures),
                ]
        return "\n".join(parts)

    def fitting_procedures(self, request: OperationRequest) -> list[dict[str, JsonValue]]:
        """The procedures a request of its type and authority may name, as data."""
        return [
            {
                "procedure": p.name,
                "description": p.description,
                "risk": p.risk.value,
                "params": {
                    k: v.model_dump(mode="json", exclude_none=True) for k, v in p.params.items()
                },
                "steps": [s.action for s in p.steps],
            }
            for p in self.procedures
            if _fits(p, request)
        ]


def _fits(procedure: Procedure, request: OperationRequest) -> bool:
    """Whether a request of this type and authority may ask for `procedure`."""
    return (
        procedure.operation_type is request.operation_type
        and request.constitutional_authority in procedure.constitutional_authority
    )
