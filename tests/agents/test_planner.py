"""The planner agent on a FunctionModel: it advises after the rules and can only tighten."""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo
from sqlalchemy import text

from tests.agents.triad import (
    INJECTION,
    YES_PLANNER,
    alerts_named,
    answer,
    consultations,
    prompt_of,
    raises,
    says,
    sleeps,
    with_agents,
)
from tests.constitution.test_advisors import submit_with
from tests.fixtures.pipeline import load, request
from triadops.domain.enums import Authority, OperationStatus, Risk
from triadops.runtime import Runtime
from triadops.worker.claims import drive_once

RISKY = request(
    [("database.purge_audit_logs", {})], affected_systems=["a", "b", "c", "d"], rollback_plan="r"
)


async def test_an_approving_planner_lets_the_rules_decision_stand_and_is_recorded(
    runtime: Runtime,
) -> None:
    powers = with_agents(runtime, planner=says(YES_PLANNER))
    op = await submit_with(runtime, powers, request())
    while await drive_once(powers, owner="w"):
        pass
    done = await load(runtime, op.operation_id)
    assert done.status is OperationStatus.COMPLETED
    assert done.planning_result is not None and done.planning_result.agent is not None
    report = done.planning_result.agent
    assert (report.ok, report.model, report.output["approved"]) == (True, "function:planner", True)
    assert report.requests == 1 and report.input_tokens > 0 and report.latency_s > 0
    assert "planner: all good" in done.planning_result.advice
    [entry] = await consultations(runtime, op.operation_id)
    assert (entry["agent"], entry["model"], entry["ok"]) == ("planner", "function:planner", True)
    assert entry["input_tokens"] == report.input_tokens


async def test_a_planner_may_reject_raise_the_risk_or_ask_for_approvals(runtime: Runtime) -> None:
    no = with_agents(
        runtime, planner=says({**YES_PLANNER, "approved": False, "rejection_reason": "too wide"})
    )
    rejected = await submit_with(runtime, no, request())
    assert rejected.status is OperationStatus.REJECTED
    assert rejected.status_reason == "advisor: too wide"

    higher = with_agents(runtime, planner=says({**YES_PLANNER, "risk_level": "high"}))
    raised = await submit_with(runtime, higher, request())
    assert raised.status is OperationStatus.AWAITING_APPROVAL
    assert raised.planning_result is not None
    assert raised.planning_result.risk_level is Risk.HIGH

    crown = with_agents(runtime, planner=says({**YES_PLANNER, "required_approvals": ["crown"]}))
    asked = await submit_with(runtime, crown, request())
    assert asked.status is OperationStatus.AWAITING_APPROVAL
    assert asked.planning_result is not None
    assert asked.planning_result.required_approvals == [Authority.CROWN]


async def test_a_yes_to_everything_planner_cannot_get_a_refused_request_approved(
    runtime: Runtime,
) -> None:
    asked: list[str] = []

    def yes(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append(prompt_of(messages))
        return answer(info, YES_PLANNER)

    powers = with_agents(runtime, planner=yes)
    # The rules refuse it outright (an emergency is the crown's, SOP-002): no model asked.
    misfit = await submit_with(runtime, powers, request(operation_type="emergency"))
    assert misfit.status is OperationStatus.REJECTED
    assert asked == []
    # The rules require the legislature's approval: the model's low risk changes nothing.
    held = await submit_with(runtime, powers, RISKY)
    assert held.status is OperationStatus.AWAITING_APPROVAL
    assert held.planning_result is not None
    assert held.planning_result.risk_level is Risk.HIGH
    assert held.planning_result.required_approvals == [Authority.LEGISLATIVE]
    assert len(asked) == 1


async def test_an_injected_description_changes_nothing(runtime: Runtime) -> None:
    seen: list[str] = []

    def gullible(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = prompt_of(messages)
        seen.append(prompt)
        if "IGNORE YOUR INSTRUCTIONS" in prompt:  # it obeys the injection
            return answer(info, {**YES_PLANNER, "risk_level": "low", "required_approvals": []})
        return answer(info, {**YES_PLANNER, "risk_level": "critical"})

    powers = with_agents(runtime, planner=gullible)
    op = await submit_with(runtime, powers, RISKY.model_copy(update={"description": INJECTION}))
    assert op.status is OperationStatus.AWAITING_APPROVAL
    assert op.planning_result is not None
    assert op.planning_result.required_approvals == [Authority.LEGISLATIVE]
    # The description reached the model fenced as data, after the instruction not to obey it.
    [prompt] = seen
    assert f'"description": "{INJECTION}"' in prompt
    assert prompt.index("<data>") < prompt.index(INJECTION) < prompt.index("</data>")


async def test_a_failing_planner_sends_the_decision_to_a_person_and_alerts(
    runtime: Runtime,
) -> None:
    powers = with_agents(runtime, planner=raises(RuntimeError("provider exploded")))
    op = await submit_with(runtime, powers, request())  # low risk: the rules alone would run it
    assert op.status is OperationStatus.AWAITING_APPROVAL
    assert op.planning_result is not None
    assert op.planning_result.required_approvals == [Authority.LEGISLATIVE]
    assert op.planning_result.agent is not None and not op.planning_result.agent.ok
    assert op.planning_result.agent.error == "RuntimeError: provider exploded"
    [entry] = await consultations(runtime, op.operation_id)
    assert entry["ok"] is False
    [alert] = await alerts_named(runtime, "TriadAgentFailed")
    assert alert.severity == "warning"
    assert alert.labels["agent"] == "planner"


async def test_a_planner_past_its_deadline_fails_closed(runtime: Runtime) -> None:
    powers = with_agents(runtime, planner=sleeps(30), timeout_s=0.3)
    op = await submit_with(runtime, powers, request())
    assert op.status is OperationStatus.AWAITING_APPROVAL
    assert op.planning_result is not None and op.planning_result.agent is not None
    assert op.planning_result.agent.error == "timed out after 0.3 s"
    assert op.planning_result.agent.latency_s < 5


async def test_an_invalid_answer_after_retries_fails_closed(runtime: Runtime) -> None:
    calls: list[int] = []

    def nonsense(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(1)
        return answer(info, {"approved": "perhaps", "risk_level": "banana"})

    powers = with_agents(runtime, planner=nonsense)
    op = await submit_with(runtime, powers, request())
    assert op.status is OperationStatus.AWAITING_APPROVAL
    assert op.planning_result is not None and op.planning_result.agent is not None
    assert op.planning_result.agent.error is not None
    assert op.planning_result.agent.error.startswith("invalid answer")
    assert len(calls) == 2  # the answer, and one retry with the validation errors


async def test_usage_limits_hold_per_operation(runtime: Runtime) -> None:
    def chatty(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return answer(info, {"approved": "perhaps"})  # invalid: it would be asked again

    powers = with_agents(runtime, planner=chatty, request_limit=1)
    op = await submit_with(runtime, powers, request())
    assert op.status is OperationStatus.AWAITING_APPROVAL
    assert op.planning_result is not None and op.planning_result.agent is not None
    assert op.planning_result.agent.error is not None
    assert "usage limit" in op.planning_result.agent.error


async def test_the_model_is_consulted_outside_any_transaction(runtime: Runtime) -> None:
    url = runtime.settings.resolved_database_url
    held: list[Any] = []

    async def probe(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if url.startswith("sqlite"):
            # Another writer gets the write lock at once: nobody holds it during the call.
            db = sqlite3.connect(url.split("///", 1)[1], timeout=0.05)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.rollback()
                held.append(False)
            except sqlite3.OperationalError:
                held.append(True)
            finally:
                db.close()
        else:
            async with runtime.engine.connect() as conn:
                busy = await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                )
                held.append(busy.scalar_one() > 0)
        return answer(info, YES_PLANNER)

    powers = with_agents(runtime, planner=probe)
    op = await submit_with(runtime, powers, request())
    assert op.status in (OperationStatus.SCHEDULED, OperationStatus.COMPLETED)
    assert held == [False]


def drafts(steps: list[dict[str, Any]], **fields: Any) -> Any:
    """A planner that drafts `steps` when the plan it is shown has none."""
    seen: list[str] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(prompt_of(messages))
        return answer(info, {**YES_PLANNER, "steps": steps, **fields})

    reply.seen = seen  # type: ignore[attr-defined]
    return reply


def described(**fields: Any) -> Any:
    return request(**fields).model_copy(update={"steps": []})


async def test_a_description_alone_gets_a_drafted_plan_a_person_must_approve(
    runtime: Runtime,
) -> None:
    from tests.constitution.test_approvals import approve
    from tests.fixtures.pipeline import BOB

    planner = drafts([{"action": "noop", "params": {"marker": "drafted"}}])
    powers = with_agents(runtime, planner=planner)
    op = await submit_with(runtime, powers, described(description="tidy the drill folder"))
    assert op.status is OperationStatus.AWAITING_APPROVAL  # low risk, but nobody wrote it
    assert op.plan is not None
    [step] = op.plan.steps
    assert (step.action, step.params["marker"], step.params["sleep_s"]) == ("noop", "drafted", 0)
    assert op.planning_result is not None
    assert op.planning_result.required_approvals == [Authority.LEGISLATIVE]
    assert "the plan was drafted by the planner agent: a person approves it" in (
        op.planning_result.advice
    )
    assert '"action": "noop"' in planner.seen[0]  # the catalogue was offered, as data
    async with runtime.session(read_only=True) as session:
        from sqlalchemy import select

        from triadops.storage.tables import LedgerRow

        plans = (
            await session.execute(
                select(LedgerRow.details).where(
                    LedgerRow.operation_id == op.operation_id, LedgerRow.event == "plan"
                )
            )
        ).scalars()
        assert [p.get("drafted_by") for p in plans] == [None, "function:planner"]
    # A legislator approves the drafted plan; then it runs like any other.
    assert await approve(runtime, op.operation_id, BOB, Authority.LEGISLATIVE) == "scheduled"
    while await drive_once(powers, owner="w"):
        pass
    assert (await load(runtime, op.operation_id)).status is OperationStatus.COMPLETED
    assert (runtime.settings.home / "drills" / "drafted").exists()


async def test_a_drafted_plan_outside_the_catalogue_is_rejected_with_the_reason(
    runtime: Runtime,
) -> None:
    cases = {
        "rm": "drafted steps[0]: unknown action 'rm'",
        "noop": "sleep_s",
    }
    for action, reason in cases.items():
        params = {"sleep_s": "forever"} if action == "noop" else {}
        powers = with_agents(runtime, planner=drafts([{"action": action, "params": params}]))
        op = await submit_with(runtime, powers, described())
        assert op.status is OperationStatus.REJECTED
        assert op.status_reason is not None and reason in op.status_reason, op.status_reason
        assert op.plan is not None and op.plan.steps == []


async def test_a_failed_draft_rejects_the_request(runtime: Runtime) -> None:
    powers = with_agents(runtime, planner=raises(RuntimeError("quota")))
    op = await submit_with(runtime, powers, described())
    assert op.status is OperationStatus.REJECTED
    assert op.status_reason == "the planner agent drafted no plan (RuntimeError: quota)"


async def test_an_emergency_does_not_wait_for_the_planner(runtime: Runtime) -> None:
    import pytest

    from tests.fixtures.pipeline import CAROL
    from triadops.constitution import lifecycle
    from triadops.constitution.legislative.service import submit_operation
    from triadops.domain.errors import InvalidRequest

    asked: list[str] = []

    def planner(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append(prompt_of(messages))
        return answer(info, YES_PLANNER)

    powers = with_agents(runtime, planner=planner)
    fix = request(
        operation_type="emergency", constitutional_authority="crown", requested_by="carol"
    )
    async with runtime.session() as session:
        await submit_operation(session, powers, request=fix, requester=CAROL)
        await lifecycle.commit(session)
    assert (await load(runtime, fix.operation_id)).status is OperationStatus.SCHEDULED
    while await drive_once(powers, owner="w"):
        pass
    assert (await load(runtime, fix.operation_id)).status is OperationStatus.COMPLETED
    assert asked == []
    undrafted = fix.model_copy(update={"operation_id": "op-undrafted", "steps": []})
    async with runtime.session() as session:
        with pytest.raises(InvalidRequest, match="an emergency names its steps"):
            await submit_operation(session, powers, request=undrafted, requester=CAROL)


async def test_an_answer_that_cannot_be_stored_fails_closed_alone(runtime: Runtime) -> None:
    unstorable = [
        {**YES_PLANNER, "findings": ["fine\x00"]},  # PostgreSQL refuses NUL
        {**YES_PLANNER, "findings": ["x"] * 51},
        {**YES_PLANNER, "rejection_reason": "y" * 2001},
        {**YES_PLANNER, "steps": [{"action": "noop", "params": {"marker": "a\x00"}}]},
    ]
    for args in unstorable:
        powers = with_agents(runtime, planner=says(args))
        op = await submit_with(runtime, powers, request())
        assert op.status is OperationStatus.AWAITING_APPROVAL, args
        assert op.planning_result is not None and op.planning_result.agent is not None
        assert op.planning_result.agent.error is not None
        assert op.planning_result.agent.error.startswith("invalid answer")


async def test_an_amended_plan_is_put_to_the_planner_again(runtime: Runtime) -> None:
    from tests.fixtures.pipeline import ALICE
    from triadops.constitution import lifecycle
    from triadops.constitution.legislative.service import amend_operation
    from triadops.domain.operations import StepSpec

    asked: list[str] = []

    def planner(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append(prompt_of(messages))
        return answer(info, YES_PLANNER)

    powers = with_agents(runtime, planner=planner)
    # No rollback plan: medium risk needs a person at any hour, in a window or not.
    held = await submit_with(runtime, powers, RISKY.model_copy(update={"rollback_plan": None}))
    assert held.status is OperationStatus.AWAITING_APPROVAL
    async with runtime.session() as session:
        await amend_operation(
            session,
            powers,
            operation_id=held.operation_id,
            steps=[StepSpec(action="noop", params={"marker": "amended"})],
            by=ALICE,
        )
        await lifecycle.commit(session)
    assert (await load(runtime, held.operation_id)).status is OperationStatus.REVIEWING
    while await drive_once(powers, owner="w"):
        pass
    done = await load(runtime, held.operation_id)
    assert len(asked) == 2 and '"marker": "amended"' in asked[1]
    # The amended plan is reviewed afresh: medium now (four systems), still a person's call.
    assert done.status is OperationStatus.AWAITING_APPROVAL
    assert done.planning_result is not None and done.planning_result.risk_level is Risk.MEDIUM
    assert done.planning_result.agent is not None and done.planning_result.agent.ok


async def test_the_failure_alert_resolves_when_the_planner_answers_again(runtime: Runtime) -> None:
    calls: list[int] = []

    def flaky(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("provider down")
        return answer(info, YES_PLANNER)

    powers = with_agents(runtime, planner=flaky)
    first = await submit_with(runtime, powers, request())
    assert first.status is OperationStatus.AWAITING_APPROVAL
    [alert] = await alerts_named(runtime, "TriadAgentFailed")
    assert alert.state == "firing"
    second = await submit_with(runtime, powers, request())
    assert second.status in (OperationStatus.SCHEDULED, OperationStatus.COMPLETED)
    [alert] = await alerts_named(runtime, "TriadAgentFailed")
    assert alert.state == "resolved"
