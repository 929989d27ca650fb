"""One operation through the three agents, against the same operation on the rules alone.

The model is pydantic-ai's FunctionModel answering at once, so the figure is what triadops
adds around a consultation (the framework's run, the extra commits, the ledger entries),
not a provider's latency, which a real model adds on top (seconds, not milliseconds). Runs
alternate between the two setups on one SQLite database so both see the same machine.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import event

from pipeline import BENCHER, noop_request
from table import Row, percentile
from triadops.agents.consult import Consultant, Limiters
from triadops.agents.evaluator import EvaluatorAdvisor
from triadops.agents.executor import StepExecutorAgent
from triadops.agents.planner import PlannerAdvisor
from triadops.constitution import lifecycle
from triadops.constitution.legislative.service import submit_operation
from triadops.constitution.powers import Powers
from triadops.domain.agents import AgentName
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.worker.claims import wait_for_operation

ANSWERS: dict[str, dict[str, Any]] = {
    "planner": {"approved": True, "risk_level": "low"},
    "executor": {"success": True},
    "evaluator": {"passed": True, "score": 1.0},
}


def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Answer as each agent should, at once; the executor first calls its handed step."""
    instructions = info.instructions or ""
    agent = next(name for name in ANSWERS if f"You are the {name}" in instructions)
    asked = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts]
    if agent == "executor" and not any(p.part_kind == "tool-return" for p in asked):
        prompt = " ".join(str(p.content) for p in asked if p.part_kind == "user-prompt")
        handed = re.search(r"call (step_\d+_\w+) once", prompt)
        assert handed is not None
        return ModelResponse(parts=[ToolCallPart(handed.group(1), {})])
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, ANSWERS[agent])])


def with_agents(rt: Runtime) -> Powers:
    limiters = Limiters(rt.settings.agents.concurrency)

    def consultant(name: AgentName) -> Consultant:
        model = FunctionModel(reply, model_name="function")
        return Consultant(
            name, settings=rt.settings, sessions=rt.sessions, limiters=limiters, model=model
        )

    return replace(
        rt.powers,
        plan_advisor=PlannerAdvisor(consultant(AgentName.PLANNER), rt.actions, rt.procedures),
        step_executor=StepExecutorAgent(consultant(AgentName.EXECUTOR)),
        verdict_advisor=EvaluatorAdvisor(consultant(AgentName.EVALUATOR)),
    )


async def rows(quick: bool) -> list[Row]:
    n = 30 if quick else 200
    statements = {"rules": 0, "agents": 0}
    current = ["rules"]

    def on_statement(*_args: Any) -> None:
        statements[current[0]] += 1

    latencies: dict[str, list[float]] = {"rules": [], "agents": []}
    with tempfile.TemporaryDirectory() as tmp:
        rt = await Runtime.open(Settings(home=Path(tmp), monitor=False))
        try:
            event.listen(rt.engine.sync_engine, "before_cursor_execute", on_statement)
            setups = {"rules": rt.powers, "agents": with_agents(rt)}
            for i in range(2 * n):
                name = "rules" if i % 2 else "agents"
                powers, current[0] = setups[name], name
                request = noop_request()
                started = time.perf_counter()
                async with rt.session() as session:
                    await submit_operation(session, powers, request=request, requester=BENCHER)
                    await lifecycle.commit(session)
                op = await wait_for_operation(
                    powers, request.operation_id, drive=True, owner="bench"
                )
                latencies[name].append(time.perf_counter() - started)
                assert op.status is OperationStatus.COMPLETED, op.status_reason
        finally:
            await rt.close()
    rules, agents = (percentile(latencies[k], 50) for k in ("rules", "agents"))
    return [
        Row(
            path="one noop through planner, executor and evaluator (instant FunctionModel), SQLite",
            measured=(
                f"p50 {agents * 1000:.1f} ms, {statements['agents'] / n:.0f} statements; "
                f"{(agents - rules) * 1000 / 3:.1f} ms added per consultation"
            ),
            baseline=(
                f"the same noop on the rules alone: p50 {rules * 1000:.1f} ms, "
                f"{statements['rules'] / n:.0f} statements"
            ),
            ratio=agents / rules,
        )
    ]
