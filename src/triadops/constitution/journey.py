"""One operation's journey within one claim: it dispatches the state to the branches.

Each state has its stages, the branches' parts in it, in order (``STAGES``); a stage decides,
commits through the journey and says what it did (:class:`~claims.Progress`), or passes
(None) to the next. The journey decides nothing itself, and the branches never call each
other. Every hand-over is a committed transition with its ledger entry, so a worker killed
anywhere resumes from the last commit: a finished step never runs again, an interrupted
idempotent step runs again, an interrupted non-idempotent one goes in doubt.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from triadops import tracing
from triadops.constitution.claims import Apply, Claimed, Handover, LeaseLost, Progress, Stage, Tick
from triadops.constitution.commits import GroupCommitter
from triadops.constitution.executive import crown_consent
from triadops.constitution.executive import stages as executive
from triadops.constitution.holds import Leases
from triadops.constitution.judicial import stages as judicial
from triadops.constitution.legislative import stages as legislative
from triadops.constitution.powers import Powers
from triadops.domain.enums import OperationStatus as S

__all__ = ["STAGES", "Claimed", "Journey"]

log = structlog.stdlib.get_logger(__name__)
T = TypeVar("T")


STAGES: dict[S, tuple[str, tuple[Stage, ...]]] = {
    S.REVIEWING: ("legislative", (legislative.review,)),
    S.SCHEDULED: (
        "executive",
        (
            executive.refuse_tampered,
            legislative.recheck_approvals,
            crown_consent.refuse_without_consent,
            judicial.measure_baseline,
            executive.start,
        ),
    ),
    S.EXECUTING: (
        "executive",
        (
            executive.refuse_tampered,
            judicial.rule_on_interrupted,
            executive.run_step,
            judicial.weigh_halt,
            executive.record_step,
        ),
    ),
    S.VALIDATING: ("judicial", (judicial.validate,)),
    S.ROLLING_BACK: ("executive", (executive.roll_back,)),
}
"""Each state the journey drives, the branch its span names, and the stages, in order."""


class Journey:
    """One operation's journey within one claim: the :class:`~claims.Drive` of its stages."""

    def __init__(
        self,
        powers: Powers,
        gc: GroupCommitter,
        owner: str,
        claimed: Claimed,
        leases: Leases,
    ) -> None:
        self.powers, self.gc, self.claimed, self.leases = powers, gc, claimed, leases
        self.executive = f"executive:{owner}"
        self.started_here: set[int] = set()
        self.undone_here: set[int] = set()
        self.handover = Handover()
        self.progress = Progress.ADVANCED
        """How the journey stands: advanced while it drives, then how it ended."""
        self.log = log.bind(operation_id=claimed.row.id)
        self.entered: S | None = None
        """The last state this journey logged entering."""
        self.hold = leases.hold(claimed.row.id)

    async def run(self) -> None:
        """Drive the operation while its stages advance it; `progress` says how it ended."""
        try:
            while self.progress is Progress.ADVANCED:
                self.progress = await self._advance()
        except LeaseLost:
            self.progress = Progress.LEASE_LOST
            self.log.warning("lease lost; another worker has the operation")
        except Exception:
            # Whatever broke, the last commit stands and the lease will expire.
            self.log.exception("driving the operation failed; it will be recovered")
        finally:
            self.leases.release(self.hold)

    async def _advance(self) -> Progress:
        """Dispatch the state to its stages until one of them decides."""
        status = S(self.claimed.row.status)
        found = STAGES.get(status)
        if found is None:
            return Progress.WAITING
        branch, stages = found
        self.handover = Handover()
        with (
            tracing.span(f"{branch}: {status.value}", operation_id=self.claimed.row.id),
            # Every event of the stage, whoever logs it, names its operation and branch.
            structlog.contextvars.bound_contextvars(
                operation_id=self.claimed.row.id, branch=branch
            ),
        ):
            if status is not self.entered:
                log.info("entered", state=status.value)  # once a state, not once a commit
                self.entered = status
            for stage in stages:
                progress = await stage(self)
                if progress is not None:
                    return progress
        raise AssertionError(f"no stage of {status.value} decided")  # the last always does

    @property
    def stop(self) -> asyncio.Event:
        return self.hold.stop

    @property
    def cancelled_by(self) -> str | None:
        return self.hold.cancelled_by

    def release(self) -> None:
        self.claimed.row.lease_owner = None
        self.claimed.row.lease_expires_at = None

    def watch(self, interruptible: bool) -> None:
        self.leases.watch(self.hold, interruptible)

    def fail(self, session: AsyncSession, reason: str, *, actor: str) -> Progress:
        return executive.fail(self, session, reason, actor=actor)

    async def commit(self, apply: Apply) -> Progress:
        row = self.claimed.row

        async def unit(session: AsyncSession, tick: Tick) -> Progress:
            if tick.status != row.status or tick.plan_hash != row.plan_hash:
                # Someone changed the operation while our view of it was stale (possible
                # only if our lease lapsed and came back): never write over their change.
                raise LeaseLost(row.id)
            session.add(row)
            result = apply(session, tick)
            return await result if inspect.isawaitable(result) else result

        progress: Progress = await self.gc.commit(row.id, unit)
        return progress

    async def heartbeat(self, work: Coroutine[Any, Any, T]) -> T:
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
            raise LeaseLost(self.claimed.row.id)
        return task.result()
