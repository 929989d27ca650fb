"""The executor (executive): runs the one step it is handed through that step's tool.

Every step of the approved plan is offered as a tool without arguments (its approved
parameters are fixed), but only the handed step's tool runs, and only once. Calling any
other tool, a step out of order or the same step twice is a violation: refused, and the
caller records it, fails the operation and raises a critical alert. The report can only
fail a step that ran; a step the agent never ran fails without having run.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, FiniteFloat, JsonValue
from pydantic_ai import Agent, Tool
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.toolsets import FunctionToolset
from pydantic_ai.usage import RunUsage

from triadops.agents import alarms
from triadops.agents.answers import DATA_RULE, Notes, Short
from triadops.agents.consult import Consultant, as_data
from triadops.constitution.advisors import RunStep, StepAdvice
from triadops.domain.operations import Operation, PlannedStep

INSTRUCTIONS = (
    "You are the executor of triadops, the executive branch of an operations control "
    "plane. You are handed exactly one step of an approved plan. Run it by calling its "
    "tool, once, then report what happened. Never call another step's tool or any other "
    "tool: only the handed step is yours to run now. Report success only if the tool's "
    "result shows it succeeded; report issues and ask for a rollback if anything in the "
    "result looks wrong. " + DATA_RULE
)
OUTPUT_TOOL_PREFIX = "final_result"


class StepReport(BaseModel):
    """The executor's report on the step it was handed, in the seed's shape."""

    success: bool
    changes_made: Notes
    execution_time: FiniteFloat = Field(default=0.0, ge=0)
    """Seconds, as the agent read them from the tool's result."""
    resource_usage: dict[Short, FiniteFloat | Short] = Field(default_factory=dict, max_length=20)
    issues_encountered: Notes
    rollback_triggered: bool = False


class Violation(Exception):
    """The agent called a tool outside the approved plan, or out of order; the run stops."""


def spent(operation: Operation) -> RunUsage | None:
    """What the executor spent on this operation's earlier steps, from their stored reports.

    The usage limits hold per operation, across steps and across workers: a worker that
    takes over counts what the one before it spent.
    """
    kept = operation.implementation_result.agent if operation.implementation_result else []
    if not kept:
        return None
    return RunUsage(
        requests=sum(r.requests for r in kept),
        input_tokens=sum(r.input_tokens for r in kept),
        output_tokens=sum(r.output_tokens for r in kept),
    )


def tool_name(step: PlannedStep) -> str:
    """The tool that runs a planned step: ``step_<index>_<action>``."""
    return f"step_{step.index}_{step.action.replace('.', '_')}"


class StepExecutorAgent:
    """The executor agent behind the executive's ``StepExecutor`` seam."""

    def __init__(self, consultant: Consultant) -> None:
        """Consult through `consultant`."""
        self.consultant = consultant
        self.agent: Agent[None, StepReport] = Agent(
            output_type=StepReport, instructions=INSTRUCTIONS, name="triad-executor"
        )

    async def execute(self, operation: Operation, step: PlannedStep, run: RunStep) -> StepAdvice:
        """Hand `step` to the agent with the plan's tools; judge what it called."""
        assert operation.plan is not None
        violations: list[str] = []
        ran: list[bool] = []

        def tool_for(planned: PlannedStep) -> Tool[None]:
            async def call() -> dict[str, JsonValue]:
                if planned.index != step.index:
                    violations.append(
                        f"called {tool_name(planned)} while handed step {step.index} only"
                    )
                    raise Violation(violations[-1])
                if ran:
                    violations.append(f"called {tool_name(planned)} a second time")
                    raise Violation(violations[-1])
                ran.append(True)
                return await run()

            return Tool(
                call,
                name=tool_name(planned),
                description=(
                    f"Run step {planned.index} of the approved plan: {planned.action} with its "
                    "approved parameters. Takes no arguments."
                ),
            )

        tools = FunctionToolset([tool_for(s) for s in operation.plan.steps])
        answer = await self.consultant.ask(
            self.agent,
            self.prompt(operation, step),
            operation_id=operation.operation_id,
            timeout_s=self.consultant.settings.agents.timeout_s + step.timeout_s,
            toolsets=[tools],
            usage=spent(operation),
            alert=False,
        )
        allowed = {tool_name(s) for s in operation.plan.steps}
        for message in answer.messages:
            if not isinstance(message, ModelResponse):
                continue
            for part in message.parts:
                if not isinstance(part, ToolCallPart):
                    continue
                if part.tool_name not in allowed and not part.tool_name.startswith(
                    OUTPUT_TOOL_PREFIX
                ):
                    violations.append(f"called {part.tool_name!r}, which is not in the plan")
        if violations:
            detail = self.consultant.scrubbed("; ".join(dict.fromkeys(violations)))
            await alarms.raise_alert(
                self.consultant.sessions,
                self.consultant.settings,
                alarms.violation(answer.report, operation_id=operation.operation_id, detail=detail),
            )
            return StepAdvice(
                violation=f"refused: the executor agent {detail}", report=answer.report
            )
        out = answer.output
        if out is None:
            await self.consultant.alarm_failed(answer.report, operation_id=operation.operation_id)
            return StepAdvice(failed=True, report=answer.report)
        trouble = None
        if not out.success or out.rollback_triggered:
            issues = "; ".join(out.issues_encountered) or "no detail"
            trouble = f"{'rollback asked' if out.rollback_triggered else 'failure'}: {issues}"
        return StepAdvice(trouble=trouble, report=answer.report)

    def prompt(self, operation: Operation, step: PlannedStep) -> str:
        """The operation, the plan and the one step handed, as data."""
        assert operation.plan is not None
        plan = [
            {"index": s.index, "action": s.action, "params": s.params, "tool": tool_name(s)}
            for s in operation.plan.steps
        ]
        return "\n".join(
            [
                "The operation:",
                as_data({"description": operation.request.description}),
                "The approved plan:",
                as_data(plan),
                f"You are handed step {step.index} only: call {tool_name(step)} once, then report.",
            ]
        )
