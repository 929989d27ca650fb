"""What people do with standard changes: read the records, grant, decline or revoke.

Each decision locks the plan's record, passes `STANDINGS`' rules on it, and commits with
its ledger entry. A grant also gives its approval to the operations already waiting for
this exact plan, in the same transaction, under every approval rule.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.errors import InvalidRequest, NotFound
from triadops.domain.events import (
    StandardDeclined,
    StandardEvent,
    StandardGranted,
    StandardRevoked,
)
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.domain.runbooks import Runbook
from triadops.domain.standards import (
    Decision,
    ResolutionRecord,
    RunbookRecord,
    StandardChange,
    Standing,
    subject_of_resolution,
)
from triadops.ops.standards.policy import STANDINGS, StandingChange
from triadops.ops.standards.records import governing_settings, pre_approve, say
from triadops.storage import standards as store
from triadops.storage.incidents import runbook_outcomes
from triadops.storage.tables import StandardChangeRow

TARGETS = {
    Decision.GRANT: Standing.STANDARD,
    Decision.DECLINE: Standing.DECLINED,
    Decision.REVOKE: Standing.REVOKED,
}
EVENTS: dict[Decision, type[StandardEvent]] = {
    Decision.GRANT: StandardGranted,
    Decision.DECLINE: StandardDeclined,
    Decision.REVOKE: StandardRevoked,
}
MIN_PREFIX = 8


async def find(session: AsyncSession, plan: str) -> StandardChange:
    """The record of the plan named by its hash, or a unique prefix of it (8+ characters)."""
    return store.standard_view(await _row(session, plan, for_update=False))


async def _row(session: AsyncSession, plan: str, *, for_update: bool) -> StandardChangeRow:
    plan = plan.strip().lower()
    if len(plan) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in plan):
        raise InvalidRequest(
            f"plan_hash: give the plan's sha256, or at least its first {MIN_PREFIX} hex digits",
            field="plan_hash",
        )
    matches = await store.matching(session, plan)
    if not matches:
        raise NotFound(f"no standard change for plan {plan[:12]}…", field="plan_hash")
    if len(matches) > 1:
        raise InvalidRequest(
            f"plan_hash: {plan} names {len(matches)} plans; give more digits", field="plan_hash"
        )
    row = await store.get_standard(session, matches[0], for_update=for_update)
    if row is None:  # deleted between the two reads
        raise NotFound(f"no standard change for plan {plan[:12]}…", field="plan_hash")
    return row


async def decide(
    session: AsyncSession,
    *,
    plan: str,
    decision: Decision,
    by: Identity,
    reason: str | None = None,
) -> StandardChange:
    """Grant, decline or revoke a plan's standing as `by`, in the caller's transaction.

    The caller commits (``lifecycle.commit``). A grant pre-approves the operations already
    waiting for this plan (``records.pre_approve``), each under the approval rules.
    """
    row = await _row(session, plan, for_update=True)
    governing = await governing_settings(session)
    target = TARGETS[decision]
    text = (reason or "").strip() or None
    change = StandingChange(row.plan_hash, by, row.streak, governing.propose_after, reason=text)
    STANDINGS.enforce(Standing(row.standing), target, change)
    if decision is Decision.GRANT and not governing.enabled:
        raise InvalidRequest(
            "standard changes are off in this database's governance (standards.enabled)",
            field="standing",
        )
    store.stood(row, target, at=utcnow(), by=by.name, reason=text)
    details = {} if text is None else {"reason": text}
    say(session, row, EVENTS[decision], by.name, **details)
    if decision is Decision.GRANT:
        for operation_id in await store.awaiting_plan(session, row.plan_hash):
            await pre_approve(session, operation_id)
    return store.standard_view(row)


async def listing(
    session: AsyncSession, *, standing: Standing | None = None, limit: int = 100
) -> list[StandardChange]:
    """The records, most recently changed first."""
    return await store.list_standards(session, standing=standing, limit=limit)


async def runbook_record(session: AsyncSession, runbook: Runbook) -> RunbookRecord:
    """The runbook's success record: its incidents by outcome, its resolutions' plans."""
    subjects = {f.name: subject_of_resolution(f.procedure, f.action) for f in runbook.resolutions}
    plans = await store.list_standards(session, subjects=set(subjects.values()), limit=500)
    return RunbookRecord(
        runbook=runbook.name,
        incidents=await runbook_outcomes(session, runbook.name),
        resolutions=[
            ResolutionRecord(
                resolution=name,
                subject=subject,
                plans=[p for p in plans if p.subject == subject],
            )
            for name, subject in subjects.items()
        ],
    )
