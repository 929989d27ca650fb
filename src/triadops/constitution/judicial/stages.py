"""The judiciary's part of a journey: measure before, rule on interrupted steps, halt, validate.

Its findings reach the executive through the operation's state or the drive's handover:
a baseline before the first step, a halt before the next one, a verdict at the end.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import consultations, lifecycle
from triadops.constitution.claims import Drive, Halt, Progress, Tick
from triadops.constitution.judicial import service as judicial
from triadops.constitution.lifecycle import Attempt
from triadops.domain.enums import OperationStatus as S
from triadops.storage.tables import StepRow


async def measure_baseline(drive: Drive) -> None:
    """Measure the systems before the first step, for the verdict to compare against."""
    view = drive.claimed.view()
    drive.handover.baseline = await drive.heartbeat(judicial.measure_before(drive.powers, view))


async def rule_on_interrupted(drive: Drive) -> Progress | None:
    """Put an interrupted step that is not idempotent in doubt, and rule by its probe.

    A step that can run again is the executive's to resume.
    """
    step = drive.claimed.running()
    if step is None or step.index in drive.started_here:
        return None
    if drive.powers.actions.get(step.action).idempotent:
        return None

    def doubt(session: AsyncSession, tick: Tick) -> Progress:
        lifecycle.transition(
            session,
            Attempt(drive.claimed.row, judicial.JUDGE),
            S.IN_DOUBT,
            reason=f"step {step.index} ({step.action}) was interrupted and is not "
            "idempotent; probing its real state",
        )
        return Progress.ADVANCED

    await drive.commit(doubt)
    took_effect = await judicial.probe(drive.powers, step)
    return await drive.commit(lambda session, tick: _rule(drive, session, step, took_effect))


def _rule(drive: Drive, session: AsyncSession, step: StepRow, took_effect: bool | None) -> Progress:
    """Rule as the probe found; a probe that cannot tell leaves the ruling to a person."""
    row = drive.claimed.row
    if took_effect is None:
        drive.release()
        row.status_reason = (
            f"step {step.index} ({step.action}) was interrupted; its "
            "effect cannot be probed: a judicial ruling is needed"
        )
        return Progress.WAITING
    ruling = judicial.rule_on_step(
        session, row, step, took_effect=took_effect, actor=judicial.JUDGE
    )
    if ruling.resumes:
        return Progress.ADVANCED
    return drive.fail(session, ruling.reason, actor=judicial.JUDGE)


async def weigh_halt(drive: Drive) -> None:
    """Read, before another step starts, whether a loud alert should stop the change."""
    ran = drive.handover.ran
    if ran is None or ran.outcome.stopped or not ran.outcome.ok:
        return
    if drive.claimed.next_pending() is None:
        return
    verdict = await drive.heartbeat(judicial.halting_evidence(drive.powers, drive.claimed.view()))
    if verdict is not None:
        drive.handover.halt = Halt(verdict, judicial.JUDGE)


async def validate(drive: Drive) -> Progress:
    """Rule on whether the operation worked: completed, or failed and rolled back."""
    row = drive.claimed.row
    verdict = await drive.heartbeat(
        judicial.validate(drive.powers, drive.claimed.view(), row.baseline or {})
    )

    async def apply(session: AsyncSession, tick: Tick) -> Progress:
        if verdict.agent is not None:
            await consultations.record(session, verdict.agent, operation_id=row.id)
        row.validation_result = verdict.model_dump(mode="json")
        if verdict.passed:
            drive.release()
            lifecycle.transition(
                session,
                Attempt(row, judicial.JUDGE),
                S.COMPLETED,
                details={"score": verdict.validation_score},
            )
            return Progress.ENDED
        # The evaluator's finding ("advisor") says who failed it and what it said.
        failed = ", ".join(
            f.detail if f.name == "advisor" else f.name for f in verdict.findings if not f.passed
        )
        return drive.fail(session, f"validation failed: {failed}", actor=judicial.JUDGE)

    return await drive.commit(apply)
