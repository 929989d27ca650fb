"""The executive's part of a journey: refuse a changed plan, start, run each step, roll back.

Every step's start is committed before its action is called (at most once); its end is
committed with the next step's start. What the judiciary must weigh between a step's run and
its record (a halt) comes through the drive's handover, never by a call.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import consultations, lifecycle
from triadops.constitution.claims import Drive, Progress, Ran, StepOutcome, Tick, released
from triadops.constitution.executive import service as executive
from triadops.constitution.executive.blackouts import is_emergency
from triadops.constitution.executive.windows import reschedule, waits_until
from triadops.constitution.lifecycle import Attempt, StepAttempt
from triadops.domain.enums import OperationStatus as S
from triadops.domain.enums import StepStatus
from triadops.domain.operations import utcnow
from triadops.storage.tables import StepRow


def fail(drive: Drive, session: AsyncSession, reason: str, *, actor: str) -> Progress:
    """Fail the operation, summarising what ran, and roll back what took effect."""
    row, steps = drive.claimed.row, drive.claimed.steps
    undo = executive.steps_to_undo(steps)
    row.implementation_result = executive.implementation_result(
        steps, rollback_triggered=bool(undo), kept=row.implementation_result
    ).model_dump(mode="json")
    rolling_back = lifecycle.fail(
        session, row, steps, actor=actor, reason=reason, undo_actor=drive.executive
    )
    if rolling_back:
        return Progress.ADVANCED
    drive.release()
    return Progress.ENDED


async def refuse_tampered(drive: Drive) -> Progress | None:
    """Fail an operation whose stored plan is not the approved one, running nothing more.

    Checked on rows read at claim time, before any step of this claim starts. No rollback
    either: undoing steps with parameters nobody approved is the same hazard as running
    them. A person must look.
    """
    if drive.started_here:
        return None
    tampered = executive.plan_tampering(drive.claimed.row, drive.claimed.steps)
    if tampered is None:
        return None

    def refuse(session: AsyncSession, tick: Tick) -> Progress:
        drive.release()
        lifecycle.transition(
            session,
            Attempt(drive.claimed.row, drive.executive),
            S.FAILED,
            reason=f"refused to run: {tampered}",
            details={"tampered": True},
        )
        return Progress.ENDED

    return await drive.commit(refuse)


async def start(drive: Drive) -> Progress:
    """Start a scheduled operation's first step, unless the crown cancelled or froze it."""
    row = drive.claimed.row
    baseline = drive.handover.baseline or {}

    def apply(session: AsyncSession, tick: Tick) -> Progress:
        if tick.cancel_requested_by:
            drive.release()
            lifecycle.transition(
                session,
                Attempt(row, tick.cancel_requested_by),
                S.CANCELLED,
                reason=f"cancelled by {tick.cancel_requested_by}",
            )
            return Progress.ENDED
        if tick.frozen:
            drive.release()
            return Progress.WAITING
        settings = drive.powers.settings
        calendar, windows = settings.maintenance_blackouts, settings.maintenance_windows
        now = utcnow()
        move = (
            None
            if is_emergency(row)
            else waits_until(row, windows=windows, blackouts=calendar, now=now)
        )
        if move is not None:  # waits for the slot, as its own scheduled time, recorded
            drive.release()
            reschedule(session, row, move, actor=drive.executive)
            return Progress.WAITING
        row.baseline = baseline
        attempt = Attempt(
            row,
            drive.executive,
            now=now,
            blackouts=calendar,
            windows=windows,
            existing=tuple(drive.claimed.approvals),  # the crown's consent gate weighs them
        )
        lifecycle.transition(session, attempt, S.EXECUTING)
        return _start_next(drive, session) or Progress.ADVANCED

    return await drive.commit(apply)


def _start_next(drive: Drive, session: AsyncSession) -> Progress | None:
    step = drive.claimed.next_pending()
    if step is not None:
        return _begin_step(drive, session, step, event="step_started")
    return None


def _begin_step(
    drive: Drive, session: AsyncSession, step: StepRow, *, event: str
) -> Progress | None:
    """Record a step's start; committed before its action is called.

    A step whose action's declaration changed since approval fails here instead, in the
    same transaction, without its action being called (and the operation fails).
    """
    refused = executive.changed_declaration(drive.powers, drive.claimed.row, step)
    executive.mark_running(step)
    if refused is None:
        drive.started_here.add(step.index)
    lifecycle.step_transition(
        session,
        StepAttempt(step, drive.executive),
        StepStatus.RUNNING,
        event=event,
        details={"attempt": step.attempts},
    )
    if refused is None:
        return None
    _record_step(drive, session, step, StepOutcome(ok=False, error=f"refused: {refused}"))
    return fail(
        drive,
        session,
        f"step {step.index} ({step.action}) refused: {refused}",
        actor=drive.executive,
    )


async def run_step(drive: Drive) -> Progress | None:
    """Run the running step's action (its record waits for the judiciary's weighing).

    With no step running, start the next or hand the operation to validation; a step found
    running that this journey did not start was interrupted: it runs again (the judiciary
    took those that cannot).
    """
    running = drive.claimed.running()
    if running is None:
        following = drive.claimed.next_pending()
        return await drive.commit(
            lambda session, tick: (
                _after_last_step(drive, session)
                if following is None
                else _start_pending(drive, session, tick)
            )
        )
    if running.index not in drive.started_here:

        def resume(session: AsyncSession, tick: Tick) -> Progress:
            return _begin_step(drive, session, running, event="step_resumed") or Progress.ADVANCED

        return await drive.commit(resume)
    powers = drive.powers
    # While an interruptible step runs, the keeper reads the cancel request often and
    # sets `stop`, which cancels the action's run there and then.
    drive.watch(powers.actions.get(running.action).interruptible)
    spent = executive.failed_hosts_before(drive.claimed.steps, running.index)
    try:
        if powers.step_executor is None:
            outcome = await drive.heartbeat(
                executive.run_step(powers, running, stop=drive.stop, failed_hosts=spent)
            )
            drive.handover.ran = Ran(running, outcome)
        else:
            outcome, advice = await drive.heartbeat(
                executive.run_with_agent(
                    powers,
                    powers.step_executor,
                    drive.claimed.view(),
                    running,
                    stop=drive.stop,
                    failed_hosts=spent,
                )
            )
            drive.handover.ran = Ran(running, outcome, advice)
    finally:
        drive.watch(False)
    return None


async def record_step(drive: Drive) -> Progress:
    """Record the step just run, with the judiciary's halt if it left one."""
    ran = drive.handover.ran
    assert ran is not None  # run_step ran it, or decided the state itself
    row = drive.claimed.row

    async def record(session: AsyncSession, tick: Tick) -> Progress:
        step, outcome, advice = ran.step, ran.outcome, ran.advice
        if outcome.stopped:
            if advice is not None and advice.report is not None:
                await consultations.record(session, advice.report, operation_id=row.id)
                executive.keep_report(row, advice.report)
            return _record_stopped(drive, session, tick, step, outcome)
        if advice is None:
            return _record(drive, session, tick, step, outcome)
        if advice.report is not None:
            await consultations.record(session, advice.report, operation_id=row.id)
            executive.keep_report(row, advice.report)
        return _record_advised(drive, session, tick, ran)

    return await drive.commit(record)


def _record_advised(drive: Drive, session: AsyncSession, tick: Tick, ran: Ran) -> Progress:
    """Record a step the executor agent was handed; its report can only fail the operation.

    A call outside the approved plan is a violation: recorded, the step refused, the
    operation failed (what ran is rolled back) and marked outside the constitution.
    """
    step, outcome, advice = ran.step, ran.outcome, ran.advice
    assert advice is not None
    if advice.violation:
        executive.record_violation(session, drive.claimed.row, step, advice.violation)
    refusal = advice.violation or (
        "the executor agent gave no valid report; failing closed" if advice.failed else None
    )
    if refusal is None and advice.trouble and outcome.ok:
        refusal = f"the executor agent reported trouble: {advice.trouble}"
    if refusal is None:
        return _record(drive, session, tick, step, outcome)
    if outcome.ok:
        # The step ran and took effect: record that, then fail so it is undone.
        _record_step(drive, session, step, outcome)
        return fail(
            drive, session, f"step {step.index} ({step.action}): {refusal}", actor=drive.executive
        )
    return _record(drive, session, tick, step, outcome)


def _record_stopped(
    drive: Drive, session: AsyncSession, tick: Tick, step: StepRow, outcome: StepOutcome
) -> Progress:
    """Record a step the operation's cancel interrupted, and fail what ran before it."""
    who = tick.cancel_requested_by or drive.cancelled_by or drive.executive
    executive.record_outcome(step, outcome)
    lifecycle.step_transition(
        session,
        StepAttempt(step, who),
        StepStatus.CANCELLED,
        event="step_cancelled",
        details={"error": outcome.error, "duration_s": round(outcome.duration_s, 6)},
    )
    return fail(
        drive, session, f"cancelled by {who} during step {step.index} ({step.action})", actor=who
    )


def _start_pending(drive: Drive, session: AsyncSession, tick: Tick) -> Progress:
    if tick.frozen:
        drive.release()
        return Progress.WAITING
    return _start_next(drive, session) or Progress.ADVANCED


def _after_last_step(drive: Drive, session: AsyncSession) -> Progress:
    row = drive.claimed.row
    row.implementation_result = executive.implementation_result(
        drive.claimed.steps, rollback_triggered=False, kept=row.implementation_result
    ).model_dump(mode="json")
    lifecycle.transition(session, Attempt(row, drive.executive), S.VALIDATING)
    return Progress.ADVANCED


def _record_step(drive: Drive, session: AsyncSession, step: StepRow, outcome: StepOutcome) -> None:
    executive.record_outcome(step, outcome)
    lifecycle.step_transition(
        session,
        StepAttempt(step, drive.executive),
        StepStatus.SUCCEEDED if outcome.ok else StepStatus.FAILED,
        event="step_succeeded" if outcome.ok else "step_failed",
        details={"error": outcome.error, "duration_s": round(outcome.duration_s, 6)},
    )


def _record(
    drive: Drive, session: AsyncSession, tick: Tick, step: StepRow, outcome: StepOutcome
) -> Progress:
    _record_step(drive, session, step, outcome)
    if not outcome.ok:
        return fail(
            drive,
            session,
            f"step {step.index} ({step.action}) failed: {outcome.error}",
            actor=drive.executive,
        )
    if tick.cancel_requested_by:
        return fail(
            drive,
            session,
            f"cancelled by {tick.cancel_requested_by}",
            actor=tick.cancel_requested_by,
        )
    following = drive.claimed.next_pending()
    if following is None:
        return _after_last_step(drive, session)
    halt = drive.handover.halt
    if halt is not None:
        # A loud alert on a changed system: the judiciary's verdict, before the next step.
        drive.claimed.row.validation_result = halt.verdict.model_dump(mode="json")
        failed = ", ".join(f.name for f in halt.verdict.findings if not f.passed)
        return fail(
            drive, session, f"stopped before step {following.index}: {failed}", actor=halt.by
        )
    return _start_pending(drive, session, tick)


async def roll_back(drive: Drive) -> Progress:
    """Undo every step that took effect, last first, then record how the rollback ended."""
    for step in executive.steps_to_undo(drive.claimed.steps):
        await _undo(drive, step)
    broken = [s for s in drive.claimed.steps if s.status == StepStatus.ROLLBACK_FAILED.value]

    def finish(session: AsyncSession, tick: Tick) -> Progress:
        row = drive.claimed.row
        drive.release()
        attempt = Attempt(row, drive.executive)
        if broken:
            detail = "; ".join(f"step {s.index}: {s.rollback_error}" for s in broken)
            lifecycle.transition(session, attempt, S.FAILED, reason=f"rollback failed: {detail}")
        else:
            lifecycle.transition(session, attempt, S.ROLLED_BACK, reason=row.status_reason)
        return released(row)

    return await drive.commit(finish)


async def _undo(drive: Drive, step: StepRow) -> None:
    """Roll one step back, at most once unless its action is idempotent."""
    action = drive.powers.actions.get(step.action)
    interrupted = (
        step.status == StepStatus.ROLLING_BACK.value and step.index not in drive.undone_here
    )
    if not action.reversible:
        outcome = StepOutcome(
            ok=True, output={"undone": False, "reason": f"{step.action} is irreversible"}
        )
    elif interrupted and not action.idempotent:
        outcome = StepOutcome(
            ok=False,
            error="its rollback was interrupted and the action is not idempotent; "
            "check its state by hand",
        )
    else:

        def begin(session: AsyncSession, tick: Tick) -> Progress:
            drive.undone_here.add(step.index)
            lifecycle.step_transition(
                session,
                StepAttempt(step, drive.executive),
                StepStatus.ROLLING_BACK,
                event="rollback_started",
                details={"resumed": interrupted},
            )
            return Progress.ADVANCED

        await drive.commit(begin)
        # Undoing with a declaration nobody approved is the same hazard as running one.
        changed = executive.changed_declaration(drive.powers, drive.claimed.row, step)
        if changed is not None:
            outcome = StepOutcome(ok=False, error=f"not rolled back: {changed}")
        else:
            outcome = await drive.heartbeat(executive.rollback_step(drive.powers, step))

    def record(session: AsyncSession, tick: Tick) -> Progress:
        executive.record_rollback(step, outcome)
        if not action.reversible:
            target = StepStatus.SKIPPED
        else:
            target = StepStatus.ROLLED_BACK if outcome.ok else StepStatus.ROLLBACK_FAILED
        lifecycle.step_transition(
            session,
            StepAttempt(step, drive.executive),
            target,
            event="step_rolled_back" if outcome.ok else "step_rollback_failed",
            details={"error": outcome.error, "duration_s": round(outcome.duration_s, 6)},
        )
        return Progress.ADVANCED

    await drive.commit(record)
