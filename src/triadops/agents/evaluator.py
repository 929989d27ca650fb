"""The evaluator (judicial): weighs the measured checks before and after, and the steps.

Its answer can only fail a verdict (``judicial.service.stricter``), never pass a failed one.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, FiniteFloat
from pydantic_ai import Agent

from triadops.agents.answers import DATA_RULE, Notes
from triadops.agents.consult import Consultant, as_data
from triadops.constitution.advisors import VerdictAdvice
from triadops.domain.operations import Operation, ValidationResult

INSTRUCTIONS = (
    "You are the evaluator of triadops, the judicial branch of an operations control "
    "plane. A change has run; registered checks measured the system before and after. "
    "Judge from the measurements and the steps' records whether the change did what its "
    "description says without harming the system. You cannot pass a check that failed: "
    "your answer can only fail the operation (which rolls it back) or recommend. " + DATA_RULE
)


class EvaluatorOutput(BaseModel):
    """The evaluator's verdict, in the seed's shape."""

    passed: bool
    score: FiniteFloat = Field(ge=0, le=1)
    findings: Notes
    recommendations: Notes
    constitutional_compliance: bool = True
    rollback_required: bool = False


class EvaluatorAdvisor:
    """The evaluator agent behind the judiciary's ``VerdictAdvisor`` seam."""

    def __init__(self, consultant: Consultant) -> None:
        """Consult through `consultant`."""
        self.consultant = consultant
        self.agent: Agent[None, EvaluatorOutput] = Agent(
            output_type=EvaluatorOutput, instructions=INSTRUCTIONS, name="triad-evaluator"
        )

    async def advise(self, operation: Operation, verdict: ValidationResult) -> VerdictAdvice:
        """Ask the model; a no, a rollback or a breach of the constitution fails the verdict."""
        answer = await self.consultant.ask(
            self.agent, self.prompt(operation, verdict), operation_id=operation.operation_id
        )
        out = answer.output
        if out is None:
            return VerdictAdvice(failed=True, report=answer.report)
        reasons = []
        if not out.passed:
            reasons.append("the evaluator found it failed")
        if out.rollback_required:
            reasons.append("the evaluator asks for a rollback")
        if not out.constitutional_compliance:
            reasons.append("the evaluator found it outside the constitution")
        detail = "; ".join([*reasons, *out.findings])
        return VerdictAdvice(
            fail=bool(reasons),
            reason=f"evaluator: {detail}" if reasons else None,
            recommendations=[f"evaluator: {r}" for r in out.recommendations],
            report=answer.report,
        )

    def prompt(self, operation: Operation, verdict: ValidationResult) -> str:
        """The request, the steps' records and the measured verdict, as data."""
        steps = [
            {
                "index": s.index,
                "action": s.action,
                "status": s.status.value,
                "duration_s": s.duration_s,
                "output": s.output,
                "error": s.error,
            }
            for s in operation.steps
        ]
        return "\n".join(
            [
                "The request:",
                as_data(
                    {
                        "description": operation.request.description,
                        "operation_type": operation.request.operation_type.value,
                        "affected_systems": operation.request.affected_systems,
                    }
                ),
                "The steps as they ran:",
                as_data(steps),
                "The measured checks (before and after) and the verdict they give:",
                as_data(verdict.model_dump(mode="json", exclude={"agent"})),
            ]
        )
