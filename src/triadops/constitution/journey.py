"""One operation's journey within one claim: execution, validation, rollback.

The journey hands the operation from branch to branch according to its state; the branches
never call each other. Every hand-over is a committed transition with its ledger entry, so a
worker killed anywhere resumes from the last commit: a finished step never runs again, an
interrupted idempotent step runs again, an interrupted non-idempotent one goes in doubt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import lifecycle
from triadops.constitution.commits import GroupCommitter, LeaseLost, Tick
from triadops.constitution.executive import service as executive
from triadops.constitution.judicial import service as judicial
from triadops.constitution.legislative import rules
from triadops.constitution.powers import Powers
from triadops.domain.enums import OperationStatus as S
from triadops.domain.enums import StepStatus
from triadops.domain.operations import Operation, PlanningResult, utcnow
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

    def __init__(self, powers: Powers, gc: GroupCommitter, owner: str, claimed: Claimed) -> None:
        self.powers, self.gc, self.c = powers, gc, claimed
        self.executive = f"executive:{owner}"
        self.started_here: set[int] = set()
        self.undone_here: set[int] = set()
        self.log = log.bind(operation_id=claimed.row.id)

    async def run(self) -> None:
        try:
            while await self._advance():
                pass
        except LeaseLost:
            self.log.warning("lease lost; another worker has the operation")
        except Exception:
            # Whatever broke, the last commit stands and the lease will expire.
            self.log.exception("driving the operation failed; it will be recovered")

    async def _advance(self) -> bool:
        status = S(self.c.row.status)
        if status is S.SCHEDULED:
            return await self._start()
        if status is S.EXECUTING:
            return await self._execute()
        if status is S.VALIDATING:
            return await self._validate()
        if status is S.ROLLING_BACK:
            return await self._rollback()
        return False

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
            return apply(session, tick)

        return bool(await self.gc.commit(row.id, unit))

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
        outcome = await self._with_heartbeat(executive.run_step(self.powers, running))
        return await self._commit(
            lambda session, tick: self._record(session, tick, running, outcome)
        )

    def _start_pending(self, session: AsyncSession, tick: Tick) -> bool:
        if tick.frozen:
            self._release()
            return False
        self._start_next(session)
        return True

    def _after_last_step(self, session: AsyncSession, tick: Tick) -> bool:
        self.c.row.implementation_result = executive.implementation_result(
            self.c.steps, rollback_triggered=False
        ).model_dump(mode="json")
        lifecycle.transition(session, self.c.row, S.VALIDATING, actor=self.executive)
        return True

    def _record(
        self, session: AsyncSession, tick: Tick, step: StepRow, outcome: executive.StepOutcome
    ) -> bool:
        executive.record_outcome(step, outcome)
        lifecycle.step_transition(
            session,
            step,
            StepStatus.SUCCEEDED if outcome.ok else StepStatus.FAILED,
            actor=self.executive,
            event="step_succeeded" if outcome.ok else "step_failed",
            details={"error": outcome.error, "duration_s": round(outcome.duration_s, 6)},
        )
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
        if self._next_pending() is None:
            return self._after_last_step(session, tick)
        return self._start_pending(session, tick)

    def _fail(self, session: AsyncSession, reason: str, *, actor: str) -> bool:
        row = self.c.row
        undo = executive.steps_to_undo(self.c.steps)
        row.implementation_result = executive.implementation_result(
            self.c.steps, rollback_triggered=bool(undo)
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
        verdict = await judicial.validate(self.powers, self.c.view(), self.c.row.baseline or {})

        def apply(session: AsyncSession, tick: Tick) -> bool:
            row = self.c.row
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
            failed = ", ".join(f.name for f in verdict.findings if not f.passed)
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
                details={"error": outcome.error},
            )
            return True

        await self._commit(record)

    async def _with_heartbeat(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work`, renewing the lease meanwhile so no other worker takes over.

        A lost lease cancels the work: what follows it could not be committed anyway.
        """
        task = asyncio.ensure_future(work)
        every = self.powers.settings.lease_s / 3
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            try:
                await self.gc.commit(self.c.row.id, _renew_only)
            except LeaseLost:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                raise


_ApplyFn = Callable[[AsyncSession, Tick], bool]


async def _renew_only(session: AsyncSession, tick: Tick) -> None:
    """Do nothing: the committer renews the lease before every unit."""
