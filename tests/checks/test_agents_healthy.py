"""``agents_healthy``: a configured agent must answer after the change; the rules pass alone."""

from __future__ import annotations

from datetime import timedelta

from tests.checks.test_builtin import context
from triadops.checks.agents import AgentsHealthy
from triadops.constitution import lifecycle
from triadops.domain.agents import AgentName, AgentReport
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.storage.agent_calls import record_call


async def calls(runtime: Runtime, agent: AgentName, *oks: bool, age_s: float = 0) -> None:
    """Record calls of `agent`, oldest first, each a second after the one before."""
    start = utcnow() - timedelta(seconds=age_s + len(oks))
    async with runtime.session() as session:
        for n, ok in enumerate(oks):
            report = AgentReport(
                agent=agent,
                model="openai:gpt-test",
                ok=ok,
                error=None if ok else "timed out",
                at=start + timedelta(seconds=n),
            )
            await record_call(session, report, operation_id=None)
        await lifecycle.commit(session)


def with_planner(runtime: Runtime) -> Runtime:
    agents = runtime.settings.agents.model_copy(update={"planner": "openai:gpt-test"})
    runtime.settings = runtime.settings.model_copy(update={"agents": agents})
    return runtime


async def judged(runtime: Runtime) -> tuple[bool, str]:
    check = AgentsHealthy()
    ctx = context(runtime)
    before = await check.measure(ctx)
    result = check.judge(ctx, before, await check.measure(ctx))
    return result.passed, result.detail


async def test_with_the_rules_alone_nothing_can_be_unhealthy(runtime: Runtime) -> None:
    await calls(runtime, AgentName.PLANNER, False, False)  # kept from an earlier model
    passed, detail = await judged(runtime)
    assert passed and "no agent is configured" in detail


async def test_a_configured_agent_whose_newest_call_failed_fails(runtime: Runtime) -> None:
    with_planner(runtime)
    assert await judged(runtime) == (True, "planner answer")  # no call yet: nothing says no
    await calls(runtime, AgentName.PLANNER, True, True, False)
    passed, detail = await judged(runtime)
    assert not passed
    assert detail == "unhealthy: planner: its newest call gave no valid answer"


async def test_mostly_failing_fails_even_when_the_newest_answered(runtime: Runtime) -> None:
    with_planner(runtime)
    await calls(runtime, AgentName.PLANNER, False, False, False, True)
    passed, detail = await judged(runtime)
    assert not passed and detail == "unhealthy: planner: 3 of 4 recent calls failed"


async def test_calls_outside_the_window_do_not_count(runtime: Runtime) -> None:
    with_planner(runtime)
    window = runtime.settings.agents.window_s
    await calls(runtime, AgentName.PLANNER, False, age_s=window + 60)
    await calls(runtime, AgentName.PLANNER, True)
    assert await judged(runtime) == (True, "planner answer")
