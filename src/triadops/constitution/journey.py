"""One operation's journey within one claim: execution, validation, rollback.

The journey hands the operation from branch to branch according to its state; the branches
never call each other. Every hand-over is a committed transition with its ledger entry, so a
worker killed anywhere resumes from the last commit: a finished step never runs again, an
interrupted idempotent step runs again, an interrupted non-idempotent one goes in doubt.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from triadops import tracing
from triadops.constitution import consultations, lifecycle
from triadops.constitution.advisors import PlanAdvice, StepAdvice
from triadops.constitution.commits import GroupCommitter, LeaseLost, Tick
from triadops.constitution.executive import service as executive
from triadops.constitution.holds import Leases
from triadops.constitution.judicial import service as judicial
from triadops.constitution.legislative import advice as legislative
from triadops.constitution.legislative import rules
from triadops.constitution.powers import Powers
from triadops.domain.enums import OperationStatus as S
from triadops.domain.enums import StepStatus
from triadops.domain.operations import Operation, PlanningResult, ValidationResult, utcnow
from triadops.storage.records import approval, operation_view
from triadops.storage.tables import ApprovalRow, OperationRow, StepRow

log = structlog.stdlib.get_logger(__name__)
T = TypeVar("T")


@dataclass
class Claimed:
    """An operation leased by this worker, with its steps and approvals."""

    row: OperationRow
    steps: list[StepRow]
    approvals: list[ApprovalRow]

    def view(self) -> Operation:
        return operation_view(self.row, self.steps, self.approvals)


class Journey:
    """One operation's journey within one claim."""

    def __init__(
        self,
        powers: Powers,
        gc: GroupCommitter,
        owner: str,
        claimed: Claimed,
        leases: Leases,
    ) -> None:
        self.powers, self.gc, self.c, self.leases = powers, gc, claimed, leases
        self.executive = f"executive:{owner}"
        self.started_here: set[int] = set()
        self.undone_here: set[int] = set()
        self.log = log.bind(operation_id=claimed.row.id)
        self.hold = leases.hold(claimed.row.id)

    async def run(self) -> None:
        try:
            while await self._advance():
                pass
        except LeaseLost:
            self.log.warning("lease lost; another worker has the operation")
        except Exception:
            # Whatever broke, the last commit stands and the lease will expire.
            self.log.exception("driving the operation failed; it will be recovered")
        finally:
            self.leases.release(self.hold)

    async def _advance(self) -> bool:
        status = S(self.c.row.status)
        stage = _STAGES.get(status)
        if stage is None:
            return False
        branch, method = stage
        with tracing.span(f"{branch}: {status.value}", operation_id=self.c.row.id):
            return await method(self)

    def _release(self) -> None:
        self.c.row.lease_owner = None
        self.c.row.lease_expires_at = None

    async def _commit(self, apply: _ApplyFn) -> bool:
        row = self.c.row

        async def unit(session: AsyncSession, tick: Tick) -> bool:
            if tick.status != row.status or tick.plan_hash != row.plan_hash:
                # Someone changed the operation while our view of it was stale (possible
                # only if our lease lapsed and came back): never write over their change.
                raise LeaseLost(row.id)
            session.add(row)
            result = apply(session, tick)
            return await result if inspect.isawaitable(result) else result

        return bool(await self.gc.commit(row.id, unit))

    async def _review(self) -> bool:
        """Consult the planner agent outside any transaction, then commit the decision.

        The operation stays in review (claimable) until that commit: a worker killed during
        the consultation leaves it there, and the next worker consults again. Whatever the
        agent says or fails to say, it can only tighten the rules' stored finding.
        """
        view = self.c.view()
        advisor = self.powers.plan_advisor
        advice = PlanAdvice()
        if advisor is not None and view.plan is not None and view.planning_result is not None:
            try:
                advice = await self._with_heartbeat(
                    advisor.advise(view.request, view.plan, view.planning_result)
                )
            except LeaseLost:
                raise
            except Exception as exc:  # an advisor's bug fails closed, like its model
                self.log.warning("planner failed", error=type(exc).__name__)
                advice = PlanAdvice(failed=True)

        if view.plan is not None and not view.plan.steps:
            # A description only: the planner drafted the steps; dry-run them here, outside
            # any transaction, and let a person approve whatever it drafted.
            drafted = await self._with_heartbeat(
                legislative.draft_from_advice(self.powers, self.c.row, advice)
            )

            async def adopt(session: AsyncSession, tick: Tick) -> bool:
                await legislative.conclude_drafted(
                    session, self.powers, self.c.row, advice, drafted
                )
                self._release()
                return False

            return await self._commit(adopt)

        async def apply(session: AsyncSession, tick: Tick) -> bool:
            scheduled = await legislative.conclude_review(session, self.powers, self.c.row, advice)
            if not scheduled:
                self._release()
            return scheduled

        return await self._commit(apply)

    async def _start(self) -> bool:
        row = self.c.row
        finding = PlanningResult.model_validate(row.planning_result)
        assert row.plan_hash is not None
        tampered = executive.plan_tampering(row, self.c.steps)
        if tampered:
            return await self._commit(lambda session, tick: self._refuse_plan(session, tampered))
        missing = rules.missing_approvals(
            finding.required_approvals,
            [approval(a) for a in self.c.approvals],
            plan_hash=row.plan_hash,
            authors=rules.plan_authors(row.requested_by, row.plan_author),
        )
        baseline = (
            {}
            if missing
            else await self._with_heartbeat(judicial.measure_before(self.powers, self.c.view()))
        )

        def apply(session: AsyncSession, tick: Tick) -> bool:
            if missing:
                # The plan no longer matches what was approved: never run it.
                names = ", ".join(a.value for a in missing)
                self._release()
                row.approved_plan_hash = None
                lifecycle.transition(
                    session, row, S.REVIEWING, actor="legislative:rules", reason="approvals void"
                )
                row.approval_deadline = utcnow() + timedelta(
                    seconds=self.powers.settings.approval_timeout_s
                )
                lifecycle.transition(
                    session,
                    row,
                    S.AWAITING_APPROVAL,
                    actor="legislative:rules",
                    reason=f"approvals do not cover the current plan; needs {names}",
                    details={"deadline": row.approval_deadline.isoformat()},
                )
                return False
            if tick.cancel_requested_by:
                self._release()
                lifecycle.transition(
                    session,
                    row,
                    S.CANCELLED,
                    actor=tick.cancel_requested_by,
                    reason=f"cancelled by {tick.cancel_requested_by}",
                )
                return False
            if tick.frozen:
                self._release()
                return False
            row.baseline = baseline
            lifecycle.transition(session, row, S.EXECUTING, actor=self.executive)
            self._start_next(session)
            return True

        return await self._commit(apply)

    def _refuse_plan(self, session: AsyncSession, reason: str) -> bool:
        """Fail an operation whose stored plan is not the approved one, running nothing more.

        No rollback either: undoing steps with parameters nobody approved is the same
        hazard as running them. A person must look.
        """
        self._release()
        lifecycle.transition(
            session,
            self.c.row,
            S.FAILED,
            actor=self.executive,
            reason=f"refused to run: {reason}",
            details={"tampered": True},
        )
        return False

    def _next_pending(self) -> StepRow | None:
        return next((s for s in self.c.steps if s.status == StepStatus.PENDING.value), None)

    def _start_next(self, session: AsyncSession) -> StepRow | None:
        step = self._next_pending()
        if step is not None:
            self._begin_step(session, step, event="step_started")
        return step

    def _begin_step(self, session: AsyncSession, step: StepRow, *, event: str) -> None:
        """Record a step's start; committed before its action is called."""
        executive.mark_running(step)
        self.started_here.add(step.index)
        lifecycle.step_transition(
            session,
            step,
            StepStatus.RUNNING,
            actor=self.executive,
            event=event,
            details={"attempt": step.attempts},
        )

    async def _execute(self) -> bool:
        if not self.started_here:
            # Resuming after a claim: the rows were just read, so check them again.
            tampered = executive.plan_tampering(self.c.row, self.c.steps)
            if tampered:
                return await self._commit(
                    lambda session, tick: self._refuse_plan(session, tampered)
                )
        running = next((s for s in self.c.steps if s.status == StepStatus.RUNNING.value), None)
        if running is None:
            return await self._commit(
                self._after_last_step if self._next_pending() is None else self._start_pending
            )
        if running.index not in self.started_here:
            return await self._interrupted(running)
        # While an interruptible step runs, the keeper reads the cancel request often and
        # sets `stop`, which cancels the action's run there and then.
        self.leases.watch(self.hold, self.powers.actions.get(running.action).interruptible)
        advice: StepAdvice | None = None
        try:
            if self.powers.step_executor is None:
                outcome = await self._with_heartbeat(
                    executive.run_step(self.powers, running, stop=self.hold.stop)
                )
            else:
                outcome, advice = await self._with_heartbeat(
                    executive.run_with_agent(
                        self.powers,
                        self.powers.step_executor,
                        self.c.view(),
                        running,
                        stop=self.hold.stop,
                    )
                )
        finally:
            self.leases.watch(self.hold, False)
        halt = None if outcome.stopped else await self._halting(outcome)

        async def record(session: AsyncSession, tick: Tick) -> bool:
            if outcome.stopped:
                if advice is not None and advice.report is not None:
                    await consultations.record(session, advice.report, operation_id=self.c.row.id)
                    executive.keep_report(self.c.row, advice.report)
                return self._record_stopped(session, tick, running, outcome)
            if advice is None:
                return self._record(session, tick, running, outcome, halt)
            return await self._record_advised(session, tick, running, outcome, advice, halt)

        return await self._commit(record)

    async def _record_advised(
        self,
        session: AsyncSession,
        tick: Tick,
        step: StepRow,
        outcome: executive.StepOutcome,
        advice: StepAdvice,
        halt: ValidationResult | None,
    ) -> bool:
        """Record a step the executor agent was handed; its report can only fail the operation.

        A call outside the approved plan is a violation: recorded, the step refused, the
        operation failed (what ran is rolled back) and marked outside the constitution.
        """
        if advice.report is not None:
            await consultations.record(session, advice.report, operation_id=step.operation_id)
            executive.keep_report(self.c.row, advice.report)
        if advice.violation:
            executive.record_violation(session, self.c.row, step, advice.violation)
        refusal = advice.violation or (
            "the executor agent gave no valid report; failing closed" if advice.failed else None
        )
        if refusal is None and advice.trouble and outcome.ok:
            refusal = f"the executor agent reported trouble: {advice.trouble}"
        if refusal is None:
            return self._record(session, tick, step, outcome, halt)
        if outcome.ok:
            # The step ran and took effect: record that, then fail so it is undone.
            self._record_step(session, step, outcome)
            return self._fail(
                session, f"step {step.index} ({step.action}): {refusal}", actor=self.executive
            )
        return self._record(session, tick, step, outcome)

    def _record_stopped(
        self, session: AsyncSession, tick: Tick, step: StepRow, outcome: executive.StepOutcome
    ) -> bool:
        """Record a step the operation's cancel interrupted, and fail what ran before it."""
        who = tick.cancel_requested_by or self.hold.cancelled_by or self.executive
        executive.record_outcome(step, outcome)
        lifecycle.step_transition(
            session,
            step,
            StepStatus.CANCELLED,
            actor=who,
            event="step_cancelled",
            details={"error": outcome.error, "duration_s": round(outcome.duration_s, 6)},
        )
        return self._fail(
            session, f"cancelled by {who} during step {step.index} ({step.action})", actor=who
        )

    def _start_pending(self, session: AsyncSession, tick: Tick) -> bool:
        if tick.frozen:
            self._release()
            return False
        self._start_next(session)
        return True

    def _after_last_step(self, session: AsyncSession, tick: Tick) -> bool:
        self.c.row.implementation_result = executive.implementation_result(
            self.c.steps, rollback_triggered=False, kept=self.c.row.implementation_result
        ).model_dump(mode="json")
        lifecycle.transition(session, self.c.row, S.VALIDATING, actor=self.executive)
        return True

    def _record_step(
        self, session: AsyncSession, step: StepRow, outcome: executive.StepOutcome
    ) -> None:
        executive.record_outcome(step, outcome)
        lifecycle.step_transition(
            session,
            step,
            StepStatus.SUCCEEDED if outcome.ok else StepStatus.FAILED,
            actor=self.executive,
            event="step_succeeded" if outcome.ok else "step_failed",
            details={"error": outcome.error, "duration_s": round(outcome.duration_s, 6)},
        )

    def _record(
        self,
        session: AsyncSession,
        tick: Tick,
        step: StepRow,
        outcome: executive.StepOutcome,
        halt: ValidationResult | None = None,
    ) -> bool:
        self._record_step(session, step, outcome)
        if not outcome.ok:
            return self._fail(
                session,
                f"step {step.index} ({step.action}) failed: {outcome.error}",
                actor=self.executive,
            )
        if tick.cancel_requested_by:
            return self._fail(
                session, f"cancelled by {tick.cancel_requested_by}", actor=tick.cancel_requested_by
            )
        following = self._next_pending()
        if following is None:
            return self._after_last_step(session, tick)
        if halt is not None:
            # A loud alert on a changed system: the judiciary's verdict, before the next step.
            self.c.row.validation_result = halt.model_dump(mode="json")
            failed = ", ".join(f.name for f in halt.findings if not f.passed)
            return self._fail(
                session,
                f"stopped before step {following.index}: {failed}",
                actor=judicial.JUDGE,
            )
        return self._start_pending(session, tick)

    async def _halting(self, outcome: executive.StepOutcome) -> ValidationResult | None:
        """Read, before another step starts, whether a loud alert should stop the change."""
        if not outcome.ok or self._next_pending() is None:
            return None
        return await self._with_heartbeat(judicial.halting_evidence(self.powers, self.c.view()))

    def _fail(self, session: AsyncSession, reason: str, *, actor: str) -> bool:
        row = self.c.row
        undo = executive.steps_to_undo(self.c.steps)
        row.implementation_result = executive.implementation_result(
            self.c.steps, rollback_triggered=bool(undo), kept=row.implementation_result
        ).model_dump(mode="json")
        rolling_back = lifecycle.fail(
            session, row, self.c.steps, actor=actor, reason=reason, undo_actor=self.executive
        )
        if not rolling_back:
            self._release()
        return rolling_back

    async def _interrupted(self, step: StepRow) -> bool:
        """A step was running when its worker died: resume it, or put the operation in doubt."""
        action = self.powers.actions.get(step.action)
        if action.idempotent:

            def resume(session: AsyncSession, tick: Tick) -> bool:
                self._begin_step(session, step, event="step_resumed")
                return True

            return await self._commit(resume)

        def doubt(session: AsyncSession, tick: Tick) -> bool:
            lifecycle.transition(
                session,
                self.c.row,
                S.IN_DOUBT,
                actor="judicial:rules",
                reason=f"step {step.index} ({step.action}) was interrupted and is not "
                "idempotent; probing its real state",
            )
            return True

        await self._commit(doubt)
        took_effect = await judicial.probe(self.powers, step)

        def rule(session: AsyncSession, tick: Tick) -> bool:
            row = self.c.row
            if took_effect is None:
                self._release()
                row.status_reason = (
                    f"step {step.index} ({step.action}) was interrupted; its "
                    "effect cannot be probed: a judicial ruling is needed"
                )
                return False
            lifecycle.step_transition(
                session,
                step,
                StepStatus.SUCCEEDED if took_effect else StepStatus.FAILED,
                actor="judicial:rules",
                event="step_ruled",
                details={"took_effect": took_effect, "by": "probe"},
            )
            verdict = "took effect" if took_effect else "did not take effect"
            if took_effect:
                lifecycle.transition(
                    session,
                    row,
                    S.EXECUTING,
                    actor="judicial:rules",
                    reason=f"probe: step {step.index} {verdict}",
                )
                return True
            return self._fail(
                session, f"probe: step {step.index} {verdict}", actor="judicial:rules"
            )

        return await self._commit(rule)

    async def _validate(self) -> bool:
        verdict = await self._with_heartbeat(
            judicial.validate(self.powers, self.c.view(), self.c.row.baseline or {})
        )

        async def apply(session: AsyncSession, tick: Tick) -> bool:
            row = self.c.row
            if verdict.agent is not None:
                await consultations.record(session, verdict.agent, operation_id=row.id)
            row.validation_result = verdict.model_dump(mode="json")
            if verdict.passed:
                self._release()
                lifecycle.transition(
                    session,
                    row,
                    S.COMPLETED,
                    actor=judicial.JUDGE,
                    details={"score": verdict.validation_score},
                )
                return False
            # The evaluator's finding ("advisor") says who failed it and what it said.
            failed = ", ".join(
                f.detail if f.name == "advisor" else f.name
                for f in verdict.findings
                if not f.passed
            )
            return self._fail(session, f"validation failed: {failed}", actor=judicial.JUDGE)

        return await self._commit(apply)

    async def _rollback(self) -> bool:
        for step in executive.steps_to_undo(self.c.steps):
            await self._undo(step)
        broken = [s for s in self.c.steps if s.status == StepStatus.ROLLBACK_FAILED.value]

        def finish(session: AsyncSession, tick: Tick) -> bool:
            row = self.c.row
            self._release()
            if broken:
                detail = "; ".join(f"step {s.index}: {s.rollback_error}" for s in broken)
                lifecycle.transition(
                    session,
                    row,
                    S.FAILED,
                    actor=self.executive,
                    reason=f"rollback failed: {detail}",
                )
            else:
                lifecycle.transition(
                    session, row, S.ROLLED_BACK, actor=self.executive, reason=row.status_reason
                )
            return False

        return await self._commit(finish)

    async def _undo(self, step: StepRow) -> None:
        """Roll one step back, at most once unless its action is idempotent."""
        action = self.powers.actions.get(step.action)
        interrupted = (
            step.status == StepStatus.ROLLING_BACK.value and step.index not in self.undone_here
        )
        if not action.reversible:
            outcome = executive.StepOutcome(
                ok=True, output={"undone": False, "reason": f"{step.action} is irreversible"}
            )
        elif interrupted and not action.idempotent:
            outcome = executive.StepOutcome(
                ok=False,
                error="its rollback was interrupted and the action is not idempotent; "
                "check its state by hand",
            )
        else:

            def begin(session: AsyncSession, tick: Tick) -> bool:
                self.undone_here.add(step.index)
                lifecycle.step_transition(
                    session,
                    step,
                    StepStatus.ROLLING_BACK,
                    actor=self.executive,
                    event="rollback_started",
                    details={"resumed": interrupted},
                )
                return True

            await self._commit(begin)
            outcome = await self._with_heartbeat(executive.rollback_step(self.powers, step))

        def record(session: AsyncSession, tick: Tick) -> bool:
            executive.record_rollback(step, outcome)
            if not action.reversible:
                target = StepStatus.SKIPPED
            else:
                target = StepStatus.ROLLED_BACK if outcome.ok else StepStatus.ROLLBACK_FAILED
            lifecycle.step_transition(
                session,
                step,
                target,
                actor=self.executive,
                event="step_rolled_back" if outcome.ok else "step_rollback_failed",
                details={"error": outcome.error, "duration_s": round(outcome.duration_s, 6)},
            )
            return True

        await self._commit(record)

    async def _with_heartbeat(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` while the lease keeper renews the lease on its own timer.

        A lost lease cancels the work: what follows it could not be committed anyway.
        """
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self.hold.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if task.cancelled():
            raise LeaseLost(self.c.row.id)
        return task.result()


_ApplyFn = Callable[[AsyncSession, Tick], bool | Awaitable[bool]]
_STAGES: dict[S, tuple[str, Callable[[Journey], Awaitable[bool]]]] = {
    S.REVIEWING: ("legislative", Journey._review),
    S.SCHEDULED: ("executive", Journey._start),
    S.EXECUTING: ("executive", Journey._execute),
    S.VALIDATING: ("judicial", Journey._validate),
    S.ROLLING_BACK: ("executive", Journey._rollback),
}
