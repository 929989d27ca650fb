"""A plan validated N times in a row is proposed, granted, pre-approved; one failure ends it.

Both databases, a real declared command (``test ! -e FLAG``) through the whole pipeline,
approvals by real principals, and ``audit verify`` on every ledger the tests leave.
"""

from __future__ import annotations

from sqlalchemy import select

from tests.fixtures.pipeline import BOB
from tests.ops.standards.conftest import Restarts
from triadops.constitution.crown import audit
from triadops.domain.events import parse_event
from triadops.domain.standards import Decision, Standing
from triadops.storage.tables import ApprovalRow, LedgerRow


async def _entries(r: Restarts, *kinds: str) -> list[tuple[str, dict[str, object]]]:
    async with r.rt.session(read_only=True) as session:
        rows = (
            await session.scalars(
                select(LedgerRow).where(LedgerRow.event.in_(kinds)).order_by(LedgerRow.seq)
            )
        ).all()
    return [(row.actor, dict(row.details)) for row in rows]


async def _clean(r: Restarts) -> None:
    async with r.rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.ok, [str(d) for d in report.discrepancies]


async def test_two_validated_runs_propose_the_plan_and_a_grant_pre_approves_the_next(
    restarts: Restarts,
) -> None:
    first = await restarts.run()
    assert first.status == "completed", first.status_reason
    plan = first.plan_hash
    assert plan is not None
    record = await restarts.record(plan)
    assert (record.standing, record.streak, record.subject) == (
        Standing.NONE,
        1,
        "procedure:restart",
    )

    second = await restarts.run()
    assert second.status == "completed" and second.plan_hash == plan
    record = await restarts.record(plan[:12])
    assert (record.standing, record.streak, record.successes) == (Standing.PROPOSED, 2, 2)
    # Proposed, not granted: the next run still waits for a person.
    waiting = await restarts.submit()
    assert waiting.status == "awaiting_approval"

    granted = await restarts.decide(plan, Decision.GRANT, BOB)
    assert (granted.standing, granted.decided_by) == (Standing.STANDARD, "bob")
    # The grant approved the run already waiting for this plan, in bob's name.
    third = await restarts.submit()
    assert third.status == "scheduled", third.status_reason
    async with restarts.rt.session(read_only=True) as session:
        given = (
            await session.scalars(
                select(ApprovalRow).where(
                    ApprovalRow.operation_id.in_([waiting.operation_id, third.operation_id])
                )
            )
        ).all()
    assert sorted((a.operation_id, a.approver, a.plan_hash) for a in given) == sorted(
        [(waiting.operation_id, "bob", plan), (third.operation_id, "bob", plan)]
    )
    approvals = await _entries(restarts, "approval")
    assert approvals[-2:] == [
        ("bob", {"authority": "legislative", "plan_hash": plan, "standard": True}),
        ("bob", {"authority": "legislative", "plan_hash": plan, "standard": True}),
    ]
    kinds = [e[0] for e in await _entries(restarts, "standard_proposed", "standard_granted")]
    assert kinds == ["legislative:standards", "bob"]
    await _clean(restarts)


async def test_a_failed_run_takes_the_standing_away_and_the_next_run_waits_again(
    restarts: Restarts,
) -> None:
    plan = (await restarts.run()).plan_hash
    assert plan is not None
    await restarts.run()
    await restarts.decide(plan, Decision.GRANT, BOB)

    restarts.flag.write_text("the app did not come back")
    failed = await restarts.run(approver=None)  # pre-approved: nobody approves it
    assert failed.status == "failed", failed.status_reason
    record = await restarts.record(plan)
    assert (record.standing, record.streak, record.failures) == (Standing.REVOKED, 0, 1)
    assert record.reason is not None and failed.operation_id in record.reason

    revoked = await _entries(restarts, "standard_revoked")
    assert len(revoked) == 1
    actor, details = revoked[0]
    event = parse_event("standard_revoked", details)
    assert actor == "legislative:standards"
    assert details["operation"] == failed.operation_id and event.standing == "revoked"

    restarts.flag.unlink()
    after = await restarts.submit()
    assert after.status == "awaiting_approval", "a revoked plan is pre-approved no more"
    # Two runs in a row again: proposed again, never granted again by itself.
    await restarts.run()
    await restarts.run()
    again = await restarts.record(plan)
    assert (again.standing, again.streak) == (Standing.PROPOSED, 2)
    await _clean(restarts)
