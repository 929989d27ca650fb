"""``triad agents check``: hold each configured agent to its real contract, once, now.

Each agent is asked as its branch asks it (its own instructions and answer type, through its
own `Consultant`) about a harmless drill, all at once and outside any transaction:

- the planner and the evaluator must give one structured answer (no second reply), and the
  drill must pass (a planner that rejects, or an evaluator that fails, a clean noop would
  stop every real operation);
- the executor is handed step 0 of a two-step drill plan and must call that step's tool once,
  no other tool and not a second time (the executive refuses that and rolls the operation
  back), then report the step a success.

Nothing real runs: the drill's tools only count their calls. Each call is then recorded in a
short transaction of its own, so ``triad agents health`` and ``/metrics`` count it like any
other. A failed check raises no alert: the person who ran it is reading the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, JsonValue
from pydantic_ai import Agent, Tool
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.toolsets import FunctionToolset

from triadops.agents.consult import Answer, Consultant, as_data
from triadops.agents.evaluator import EvaluatorOutput
from triadops.agents.executor import OUTPUT_TOOL_PREFIX, StepReport
from triadops.agents.planner import PlannerOutput
from triadops.constitution import consultations, lifecycle
from triadops.domain.agents import AgentName

if TYPE_CHECKING:
    from triadops.agents.wiring import Agents

DRILL = "a drill by `triad agents check`: nothing here runs on any system"
HANDED = "step_0_noop"
PLAN_TOOLS = (HANDED, "step_1_noop")
PLANNER_PROMPT = "\n".join(
    [
        "The request:",
        as_data(
            {
                "operation_type": "maintenance",
                "authority": "executive",
                "description": f"Do nothing for a moment ({DRILL})",
                "affected_systems": [],
                "rollback_plan": "nothing to undo",
                "validation_criteria": [],
                "emergency": False,
            }
        ),
        "The plan (each step's dry run included):",
        as_data(
            [
                {
                    "index": 0,
                    "action": "noop",
                    "params": {},
                    "risk": "low",
                    "reversible": True,
                    "dry_run": {"summary": "would do nothing", "touches": []},
                }
            ]
        ),
        "The rules' finding:",
        as_data({"approved": True, "risk_level": "low", "required_approvals": []}),
    ]
)
EXECUTOR_PROMPT = "\n".join(
    [
        "The operation:",
        as_data({"description": f"Do nothing, twice ({DRILL})"}),
        "The approved plan:",
        as_data(
            [
                {"index": i, "action": "noop", "params": {}, "tool": tool}
                for i, tool in enumerate(PLAN_TOOLS)
            ]
        ),
        f"You are handed step 0 only: call {HANDED} once, then report.",
    ]
)
EVALUATOR_PROMPT = "\n".join(
    [
        "The request:",
        as_data(
            {
                "description": f"Do nothing for a moment ({DRILL})",
                "operation_type": "maintenance",
                "affected_systems": [],
            }
        ),
        "The steps as they ran:",
        as_data(
            [
                {
                    "index": 0,
                    "action": "noop",
                    "status": "succeeded",
                    "duration_s": 0.001,
                    "output": {"slept_s": 0.0},
                    "error": None,
                }
            ]
        ),
        "The measured verdict:",
        as_data(
            {
                "passed": True,
                "validation_score": 1.0,
                "findings": [
                    {"name": "system_functionality_maintained", "passed": True, "detail": "ok"}
                ],
            }
        ),
    ]
)


class AgentCheck(BaseModel):
    """How one agent's model held to its contract."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    agent: AgentName
    model: str
    """The model as people read it (``provider:model``), never a key."""
    ok: bool
    """True when the model kept its agent's contract on the drill."""
    latency_s: float
    input_tokens: int
    output_tokens: int
    error: str | None
    """How it failed or broke the contract, in one line, without the request or any key."""


def _replies(messages: list[ModelMessage]) -> int:
    return sum(isinstance(m, ModelResponse) for m in messages)


def _tool_calls(messages: list[ModelMessage]) -> list[str]:
    return [
        part.tool_name
        for m in messages
        if isinstance(m, ModelResponse)
        for part in m.parts
        if isinstance(part, ToolCallPart) and not part.tool_name.startswith(OUTPUT_TOOL_PREFIX)
    ]


def _said(notes: list[str]) -> str:
    return "; ".join(notes) or "no reason given"


def planner_breach(answer: Answer[PlannerOutput]) -> str | None:
    """Say how the planner broke its contract on the drill, or None when it kept it."""
    out = answer.output
    if out is None:
        return None
    if _replies(answer.messages) != 1:
        return f"gave its answer in {_replies(answer.messages)} replies, not one structured answer"
    if not out.approved:
        why = out.rejection_reason or _said(out.findings)
        return f"rejected a harmless drill, so it would reject real work: it said {why!r}"
    return None


def evaluator_breach(answer: Answer[EvaluatorOutput]) -> str | None:
    """Say how the evaluator broke its contract on the drill, or None when it kept it."""
    out = answer.output
    if out is None:
        return None
    if _replies(answer.messages) != 1:
        return f"gave its answer in {_replies(answer.messages)} replies, not one structured answer"
    if not out.passed or out.rollback_required or not out.constitutional_compliance:
        return (
            "failed a clean drill, so every real operation would be rolled back "
            f"(validation failed: evaluator): it said {_said(out.findings)!r}"
        )
    return None


def executor_breach(answer: Answer[StepReport], ran: list[str]) -> str | None:
    """Say how the executor broke its contract on the drill, or None when it kept it."""
    called = _tool_calls(answer.messages)
    others = [name for name in called if name != HANDED]
    if others:
        return (
            f"called {others[0]!r} while handed {HANDED} only: the executive refuses that and "
            "rolls the operation back"
        )
    if len(ran) > 1 or len(called) > 1:
        return (
            f"called {HANDED} a second time: the executive refuses that, so every real "
            "operation would be rolled back"
        )
    out = answer.output
    if out is None:
        return None
    if not ran:
        return f"answered without calling {HANDED}: no real step would ever run"
    if not out.success or out.rollback_triggered:
        asked = "asked for a rollback" if out.rollback_triggered else "reported a failure"
        return f"{asked} of a step that succeeded: it said {_said(out.issues_encountered)!r}"
    return None


def _result(answer: Answer[Any], breach: str | None) -> AgentCheck:
    report = answer.report
    error = breach or report.error  # a breach also ends a run in error: say the breach
    return AgentCheck(
        agent=report.agent,
        model=report.model,
        ok=error is None,
        latency_s=report.latency_s,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        error=error,
    )


async def _check_planner(consultant: Consultant, agent: Agent[None, PlannerOutput]) -> AgentCheck:
    answer = await consultant.ask(agent, PLANNER_PROMPT, operation_id=None, alert=False)
    return await _recorded(consultant, answer, planner_breach(answer))


async def _check_evaluator(
    consultant: Consultant, agent: Agent[None, EvaluatorOutput]
) -> AgentCheck:
    answer = await consultant.ask(agent, EVALUATOR_PROMPT, operation_id=None, alert=False)
    return await _recorded(consultant, answer, evaluator_breach(answer))


async def _check_executor(consultant: Consultant, agent: Agent[None, StepReport]) -> AgentCheck:
    ran: list[str] = []

    def tool(index: int, name: str) -> Tool[None]:
        async def call() -> dict[str, JsonValue]:
            ran.append(name)
            if name != HANDED or len(ran) > 1:
                raise RuntimeError(f"refused: {name} is not the handed step, or ran already")
            return {"succeeded": True, "output": {"slept_s": 0.0}, "duration_s": 0.001}

        return Tool(
            call,
            name=name,
            description=f"Run step {index} of the approved plan: noop. Takes no arguments.",
        )

    tools = FunctionToolset([tool(i, name) for i, name in enumerate(PLAN_TOOLS)])
    answer = await consultant.ask(
        agent, EXECUTOR_PROMPT, operation_id=None, toolsets=[tools], alert=False
    )
    return await _recorded(consultant, answer, executor_breach(answer, ran))


async def _recorded(consultant: Consultant, answer: Answer[Any], breach: str | None) -> AgentCheck:
    """Record the call as any other, in a transaction of its own; return the check."""
    async with consultant.sessions() as session:
        await consultations.record_drill(session, answer.report)
        await lifecycle.commit(session)
    return _result(answer, breach)


async def check_agents(agents: Agents) -> list[AgentCheck]:
    """Hold every configured agent to its contract at once; return them in agent order."""
    consultants: Mapping[AgentName, Consultant] = agents.consultants
    checks = []
    if agents.planner is not None:
        checks.append(_check_planner(consultants[AgentName.PLANNER], agents.planner.agent))
    if agents.executor is not None:
        checks.append(_check_executor(consultants[AgentName.EXECUTOR], agents.executor.agent))
    if agents.evaluator is not None:
        checks.append(_check_evaluator(consultants[AgentName.EVALUATOR], agents.evaluator.agent))
    return list(await asyncio.gather(*checks))
