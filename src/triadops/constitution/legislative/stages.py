"""The legislature's part of a journey: the planner's review, and approvals that still cover.

A stored plan whose approvals no longer cover it (it changed under them) goes back to the
people who approve: the legislature decides that, not the executive about to run it.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import lifecycle
from triadops.constitution.advisors import PlanAdvice
from triadops.constitution.claims import Drive, LeaseLost, Progress, Tick, released
from triadops.constitution.legislative import advice as legislative
from triadops.constitution.legislative import rules
from triadops.constitution.legislative.submission import RULES
from triadops.constitution.lifecycle import Attempt
from triadops.domain.enums import Authority
from triadops.domain.enums import OperationStatus as S
from triadops.domain.operations import PlanningResult, utcnow
from triadops.storage.records import approval
from triadops.storage.tables import OperationRow

log = structlog.stdlib.get_logger(__name__)


async def review(drive: Drive) -> Progress:
    """Consult the planner agent outside any transaction, then commit the decision.

    The operation stays in review (claimable) until that commit: a worker killed during
    the consultation leaves it there, and the next worker consults again. Whatever the
    agent says or fails to say, it can only tighten the rules' stored finding.
    """
    view, row = drive.claimed.view(), drive.claimed.row
    advisor = drive.powers.plan_advisor
    advice = PlanAdvice()
    if advisor is not None and view.plan is not None and view.planning_result is not None:
        try:
            advice = await drive.heartbeat(
                advisor.advise(view.request, view.plan, view.planning_result)
            )
        except LeaseLost:
            raise
        except Exception as exc:  # an advisor's bug fails closed, like its model
            log.warning("planner failed", operation_id=row.id, error=type(exc).__name__)
            advice = PlanAdvice(failed=True)

    if view.plan is not None and not view.plan.steps:
        # A description only: the planner drafted the steps; dry-run them here, outside
        # any transaction, and let a person approve whatever it drafted.
        drafted = await drive.heartbeat(legislative.draft_from_advice(drive.powers, row, advice))

        async def adopt(session: AsyncSession, tick: Tick) -> Progress:
            await legislative.conclude_drafted(session, drive.powers, row, advice, drafted)
            drive.release()
            return released(row)

        return await drive.commit(adopt)

    async def apply(session: AsyncSession, tick: Tick) -> Progress:
        if await legislative.conclude_review(session, drive.powers, row, advice):
            return Progress.ADVANCED
        drive.release()
        return released(row)

    return await drive.commit(apply)


def uncovered(drive: Drive) -> list[Authority]:
    """The approvals the current plan needs and lacks (none when it is covered)."""
    row = drive.claimed.row
    assert row.plan_hash is not None
    finding = PlanningResult.model_validate(row.planning_result)
    return rules.missing_approvals(
        finding.required_approvals,
        [approval(a) for a in drive.claimed.approvals],
        plan_hash=row.plan_hash,
        authors=rules.plan_authors(row.requested_by, row.plan_author),
    )


def reopen_for_approval(
    session: AsyncSession, row: OperationRow, missing: list[Authority], *, timeout_s: float
) -> None:
    """Void the approvals of a plan they no longer cover and ask for them again."""
    names = ", ".join(a.value for a in missing)
    row.approved_plan_hash = None
    lifecycle.transition(session, Attempt(row, RULES), S.REVIEWING, reason="approvals void")
    row.approval_deadline = utcnow() + timedelta(seconds=timeout_s)
    lifecycle.transition(
        session,
        Attempt(row, RULES),
        S.AWAITING_APPROVAL,
        reason=f"approvals do not cover the current plan; needs {names}",
        details={"deadline": row.approval_deadline.isoformat()},
    )


async def recheck_approvals(drive: Drive) -> Progress | None:
    """Send a scheduled plan back for approval when its approvals no longer cover it."""
    missing = uncovered(drive)
    if not missing:
        return None

    def reopen(session: AsyncSession, tick: Tick) -> Progress:
        # The plan no longer matches what was approved: never run it.
        drive.release()
        timeout_s = drive.powers.settings.approval_timeout_s
        reopen_for_approval(session, drive.claimed.row, missing, timeout_s=timeout_s)
        return Progress.WAITING

    return await drive.commit(reopen)
