"""The executive: runs exactly the approved steps, records each, undoes on failure.

Running an action and recording it are separate so the caller can commit a step's start
before the step runs (at most once) and its end together with the next step's start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import structlog
from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.actions.base import ActionContext
from triadops.constitution import ledger, lifecycle
from triadops.constitution.advisors import StepAdvice, StepExecutor
from triadops.constitution.claims import StepOutcome
from triadops.constitution.powers import Powers, action_context
from triadops.domain.agents import AgentName, AgentReport
from triadops.domain.chain import plan_hash
from triadops.domain.enums import StepStatus
from triadops.domain.errors import ActionFailed, TriadError
from triadops.domain.events import ExecutorViolation
from triadops.domain.operations import (
    ImplementationResult,
    Operation,
    Plan,
    definition_at,
    step_binding,
    utcnow,
)
from triadops.storage.tables import OperationRow, StepRow

log = structlog.stdlib.get_logger(__name__)
T = TypeVar("T")


def context(
    powers: Powers, step: StepRow, *, stop: asyncio.Event | None = None, failed_hosts: int = 0
) -> ActionContext:
    """Build the context an action sees for this step; `stop` is its cancellation signal."""
    return action_context(
        powers,
        operation_id=step.operation_id,
        step_index=step.index,
        idempotency_key=step.idempotency_key,
        failed_hosts=failed_hosts,
        stop=stop,
    )


def failed_hosts_before(steps: Sequence[StepRow], index: int) -> int:
    """Add up the hosts the steps before `index` failed on, from their stored outputs.

    What an operation-wide failure budget has spent when step `index` starts: each output's
    ``failed_hosts`` (a count), as commands on hosts record it.
    """
    total = 0
    for step in steps:
        counted = (step.output or {}).get("failed_hosts") if step.index < index else None
        if isinstance(counted, int) and not isinstance(counted, bool) and counted > 0:
            total += counted
    return total


class Stopped(Exception):
    """The operation's cancel interrupted an action while it ran."""


async def until_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T:
    """Await `work` unless `stop` is set first: then cancel it, let it unwind, raise Stopped.

    Work that finishes as the signal comes keeps its result; work that swallows the
    cancellation and returns has finished too.
    """
    task = asyncio.ensure_future(work)
    signal = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, signal}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        signal.cancel()
        if not task.done():
            task.cancel()
            # The action tidies up as it unwinds (a process group, a connection).
            await asyncio.wait({task})
    if task.cancelled():
        raise Stopped
    return task.result()


def plan_tampering(row: OperationRow, steps: Sequence[StepRow]) -> str | None:
    """Return why the stored plan or its step rows are not the approved plan, or None.

    Checked on rows read at claim time, before any step of them runs: the plan document
    and the step rows (what actually runs) must both hash to the hash that was approved.
    """
    approved = row.approved_plan_hash or row.plan_hash
    if row.plan is None or approved is None:
        return "the operation has no approved plan"
    plan = Plan.model_validate(row.plan)
    binding = plan.binding()
    if plan_hash(binding) != approved or row.plan_hash != approved:
        return "the stored plan does not hash to the approved plan hash"
    ordered = sorted(steps, key=lambda s: s.index)
    pinned = {s.index: s.definition for s in plan.steps}
    binding["steps"] = [step_binding(s.action, s.params, pinned.get(s.index)) for s in ordered]
    if plan_hash(binding) != approved:
        return "the stored steps do not hash to the approved plan hash"
    return None


def changed_declaration(powers: Powers, row: OperationRow, step: StepRow) -> str | None:
    """Return why `step` must not start: its action's declaration is not the approved one.

    The approver approved the plan with each declared action's definition pinned; a server
    whose configuration changed the command since would run something nobody approved.
    """
    try:
        current = powers.actions.get(step.action).definition()
    except TriadError:
        return f"{step.action} is no longer declared; resubmit"
    if current == definition_at((row.plan or {}).get("steps") or [], step.index):
        return None
    return f"declaration of {step.action} changed since approval; resubmit"


def mark_running(step: StepRow) -> None:
    """Record on the row that a step starts now (its status moves through the lifecycle)."""
    step.attempts += 1
    step.started_at = utcnow()
    step.ended_at = None
    step.error = None


async def run_step(
    powers: Powers, step: StepRow, *, stop: asyncio.Event | None = None, failed_hosts: int = 0
) -> StepOutcome:
    """Run one registered action with its timeout; never raises for the action's failure.

    Setting `stop` (the operation's cancel) sets the action's own signal and, when the
    action is interruptible, cancels its run at once: the outcome is then `stopped`.
    `failed_hosts` is what the operation's earlier steps failed on (`failed_hosts_before`).
    """
    action = powers.actions.get(step.action)
    started = time.perf_counter()
    ctx = context(powers, step, stop=stop, failed_hosts=failed_hosts)
    try:
        params = action.parse(step.params)
        work = asyncio.wait_for(action.run(ctx, params), timeout=action.timeout_s)
        if stop is not None and action.interruptible:
            output = await until_stopped(work, stop)
        else:
            output = await work
        return StepOutcome(ok=True, output=output, duration_s=time.perf_counter() - started)
    except Stopped:
        return StepOutcome(
            ok=False,
            output=dict(ctx.interrupted),
            error=f"{step.action} was stopped by the operation's cancel",
            duration_s=time.perf_counter() - started,
            stopped=True,
        )
    except TimeoutError:
        return StepOutcome(
            ok=False,
            output=dict(ctx.interrupted),
            error=f"{step.action} timed out after {action.timeout_s:g}s",
            duration_s=time.perf_counter() - started,
        )
    except ActionFailed as exc:
        return _failed(exc, started)
    except TriadError as exc:
        error = exc.message
    except Exception as exc:  # an action's bug must fail its step, not the worker
        error = f"{type(exc).__name__}: {exc}"
    return StepOutcome(ok=False, error=error, duration_s=time.perf_counter() - started)


def _failed(exc: ActionFailed, started: float) -> StepOutcome:
    """The outcome of an action that failed on purpose, keeping what it had to show."""
    return StepOutcome(
        ok=False, output=exc.output, error=exc.message, duration_s=time.perf_counter() - started
    )


def record_outcome(step: StepRow, outcome: StepOutcome) -> None:
    """Write a step's end, output, error and duration onto its row (not its status)."""
    log.info(
        "step ran",
        operation_id=step.operation_id,  # recorded in the group commit's task: bound here
        step=step.index,
        action=step.action,
        ok=outcome.ok,
        duration_s=round(outcome.duration_s, 3),
        error=outcome.error,
    )
    step.ended_at = utcnow()
    step.duration_s = outcome.duration_s
    step.output = outcome.output
    step.error = outcome.error


def steps_to_undo(steps: list[StepRow]) -> list[StepRow]:
    """Return the steps still to roll back (succeeded, or caught mid-rollback), last first."""
    done = [s for s in steps if s.status in lifecycle.UNDOABLE]
    return sorted(done, key=lambda s: s.index, reverse=True)


async def rollback_step(powers: Powers, step: StepRow) -> StepOutcome:
    """Undo one succeeded step; never raises for the rollback's failure."""
    action = powers.actions.get(step.action)
    started = time.perf_counter()
    try:
        params = action.parse(step.params)
        output = await asyncio.wait_for(
            action.rollback(context(powers, step), params, step.output or {}),
            timeout=action.timeout_s,
        )
        return StepOutcome(ok=True, output=output, duration_s=time.perf_counter() - started)
    except TimeoutError:
        error = f"rollback of {step.action} timed out after {action.timeout_s:g}s"
    except ActionFailed as exc:
        return _failed(exc, started)
    except TriadError as exc:
        error = exc.message
    except Exception as exc:  # a rollback's bug must be recorded, not crash the worker
        error = f"{type(exc).__name__}: {exc}"
    return StepOutcome(ok=False, error=error, duration_s=time.perf_counter() - started)


def record_rollback(step: StepRow, outcome: StepOutcome) -> None:
    """Write a rollback's result onto its step row (not its status)."""
    step.rollback_output = outcome.output
    step.rollback_error = outcome.error


def implementation_result(
    steps: list[StepRow], *, rollback_triggered: bool, kept: dict[str, Any] | None = None
) -> ImplementationResult:
    """Summarise the steps in the seed's implementation_result shape.

    `kept` is the result stored so far: the executor agent's reports and any violation
    recorded step by step carry over.
    """
    succeeded = [s for s in steps if s.status in (StepStatus.SUCCEEDED, StepStatus.ROLLED_BACK)]
    so_far = _kept(kept)
    return ImplementationResult(
        success=all(s.status == StepStatus.SUCCEEDED.value for s in steps),
        changes_made=[f"{s.action} (step {s.index})" for s in succeeded],
        execution_time_s=round(sum(s.duration_s or 0.0 for s in steps), 6),
        issues_encountered=[f"step {s.index} {s.action}: {s.error}" for s in steps if s.error],
        rollback_triggered=rollback_triggered,
        constitutional_compliance=so_far.constitutional_compliance,
        agent=so_far.agent,
    )


def _kept(stored: dict[str, Any] | None) -> ImplementationResult:
    if not stored:
        return ImplementationResult(success=False)
    return ImplementationResult.model_validate(stored)


def keep_report(row: OperationRow, report: AgentReport) -> None:
    """Add the executor agent's report on a step to the operation's stored result."""
    so_far = _kept(row.implementation_result)
    so_far.agent.append(report)
    row.implementation_result = so_far.model_dump(mode="json")


def record_violation(
    session: AsyncSession, row: OperationRow, step: StepRow, violation: str
) -> None:
    """Mark the operation outside the constitution and record what the agent tried."""
    so_far = _kept(row.implementation_result)
    so_far.constitutional_compliance = False
    so_far.issues_encountered.append(f"step {step.index}: {violation}")
    row.implementation_result = so_far.model_dump(mode="json")
    ledger.record(
        session,
        ExecutorViolation(step=step.index, action=step.action, violation=violation),
        actor=AgentName.EXECUTOR.actor,
        operation_id=row.id,
    )


async def run_with_agent(
    powers: Powers,
    executor: StepExecutor,
    operation: Operation,
    step: StepRow,
    *,
    stop: asyncio.Event | None = None,
    failed_hosts: int = 0,
) -> tuple[StepOutcome, StepAdvice]:
    """Hand one step to the executor agent; its one tool runs the step's action, once.

    The action runs shielded from the agent's own deadline: once started, it finishes (or
    meets its own timeout) whatever the agent does, so its outcome is always known and
    recorded. A step the agent never ran fails without having run. `stop` is the
    operation's cancel, as for ``run_step``.
    """
    assert operation.plan is not None
    planned = operation.plan.steps[step.index]
    started: list[asyncio.Future[StepOutcome]] = []

    async def run() -> dict[str, JsonValue]:
        if started:
            raise RuntimeError("the step was already run")  # the executor refuses this first
        started.append(
            asyncio.ensure_future(run_step(powers, step, stop=stop, failed_hosts=failed_hosts))
        )
        outcome = await asyncio.shield(started[0])
        return {"ok": outcome.ok, "output": outcome.output, "error": outcome.error}

    try:
        advice = await executor.execute(operation, planned, run)
    except Exception as exc:  # an executor's bug fails closed, like its model
        log.warning("executor failed", operation_id=step.operation_id, error=type(exc).__name__)
        advice = StepAdvice(failed=True)
    if started:
        return await started[0], advice
    why = advice.violation or "the executor agent did not run it"
    return StepOutcome(ok=False, error=f"not run: {why}"), advice
