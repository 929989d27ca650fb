"""Every door of the promise: only a legislator's grant pre-approves, only that exact plan.

The doors, each a test below:
- the rules cannot grant or decline (only propose and revoke);
- a principal without the legislative role cannot grant, decline or revoke;
- a plan not yet proposed cannot be granted; a revoked one cannot be granted again before
  it is proposed again; a decided one cannot be decided the same way twice;
- a grant needs the record still unbroken, read on the locked row (a failure after the
  proposal revokes it first);
- the grantor's own request (or plan) is not approved by their own grant;
- a plan with other parameters (another hash) is not pre-approved by a grant;
- a plan the crown must approve (a critical step) is never proposed;
- governance off (``standards.enabled = false``): no proposal, and a grant given before
  pre-approves nothing;
- an emergency of the same plan (which no one approves) that fails revokes it too;
- a record edited to ``standard`` in the database is named by ``audit verify``;
- a bad plan name is a clear error that changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from tests.fixtures.api import drive
from tests.fixtures.pipeline import ALICE, BOB, CAROL, JUDGE, approve, load, request, submit
from tests.ops.standards.conftest import Restarts, open_restarts
from triadops.constitution import lifecycle
from triadops.constitution.crown import audit
from triadops.constitution.legislative.approvals import approve_operation
from triadops.domain.enums import Authority, Role
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from triadops.domain.identity import Identity
from triadops.domain.standards import Decision, Standing
from triadops.ops.standards.policy import STANDINGS, StandingChange
from triadops.settings import Settings
from triadops.storage.tables import StandardChangeRow

DAVE = Identity(name="dave", roles=frozenset({Role.LEGISLATIVE}))


async def _proposed(r: Restarts) -> str:
    plan = (await r.run()).plan_hash
    assert plan is not None
    await r.run()
    assert (await r.record(plan)).standing is Standing.PROPOSED
    return plan


def test_the_rules_propose_and_revoke_but_never_grant_or_decline() -> None:
    change = StandingChange("ab" * 32, None, streak=9, propose_after=2)
    for target in (Standing.STANDARD, Standing.DECLINED):
        with pytest.raises(Forbidden, match="only a legislator decides"):
            STANDINGS.enforce(Standing.PROPOSED, target, change)
    STANDINGS.enforce(Standing.NONE, Standing.PROPOSED, change)
    STANDINGS.enforce(Standing.STANDARD, Standing.REVOKED, change)


@pytest.mark.parametrize("who", [ALICE.model_copy(update={"roles": frozenset({Role.EXECUTIVE})}),
                                 CAROL, JUDGE])  # fmt: skip
async def test_only_the_legislative_role_decides(restarts: Restarts, who: Identity) -> None:
    plan = await _proposed(restarts)
    for decision in Decision:
        with pytest.raises(Forbidden, match="legislative role"):
            await restarts.decide(plan, decision, who, reason="why not")
    assert (await restarts.record(plan)).standing is Standing.PROPOSED


async def test_a_plan_is_granted_only_from_a_proposal(restarts: Restarts) -> None:
    plan = (await restarts.run()).plan_hash
    assert plan is not None
    with pytest.raises(Conflict, match="none cannot be granted"):
        await restarts.decide(plan, Decision.GRANT, BOB)
    await restarts.run()
    await restarts.decide(plan, Decision.DECLINE, BOB, reason="we restart by hand for now")
    with pytest.raises(Conflict, match="declined cannot be declined"):
        await restarts.decide(plan, Decision.DECLINE, BOB, reason="again")
    record = await restarts.decide(plan, Decision.GRANT, DAVE)  # a legislator changed their mind
    assert (record.standing, record.decided_by) == (Standing.STANDARD, "dave")
    with pytest.raises(Conflict, match="standard cannot be granted"):
        await restarts.decide(plan, Decision.GRANT, BOB)
    with pytest.raises(InvalidRequest, match="say why"):
        await restarts.decide(plan, Decision.REVOKE, BOB, reason="  ")
    revoked = await restarts.decide(plan, Decision.REVOKE, BOB, reason="new release process")
    assert (revoked.standing, revoked.decided_by, revoked.reason) == (
        Standing.REVOKED,
        "bob",
        "new release process",
    )
    with pytest.raises(Conflict, match="revoked cannot be granted"):
        await restarts.decide(plan, Decision.GRANT, BOB)


async def test_a_failure_after_the_proposal_leaves_nothing_to_grant(restarts: Restarts) -> None:
    plan = await _proposed(restarts)
    restarts.flag.write_text("down")
    assert (await restarts.run()).status == "failed"
    with pytest.raises(Conflict, match="revoked cannot be granted"):
        await restarts.decide(plan, Decision.GRANT, BOB)
    record = await restarts.record(plan)
    assert (record.standing, record.streak, record.failures) == (Standing.REVOKED, 0, 1)


async def test_a_grant_needs_the_streak_read_where_it_is_stored(restarts: Restarts) -> None:
    plan = await _proposed(restarts)
    await restarts.decide(plan, Decision.DECLINE, BOB, reason="not yet")
    restarts.flag.write_text("down")
    assert (await restarts.run()).status == "failed"  # declined stays declined, streak 0
    assert (await restarts.record(plan)).standing is Standing.DECLINED
    with pytest.raises(Conflict, match="0 validated run"):
        await restarts.decide(plan, Decision.GRANT, BOB)


async def test_the_grantors_own_request_is_not_approved_by_their_grant(
    restarts: Restarts,
) -> None:
    plan = await _proposed(restarts)
    await restarts.decide(plan, Decision.GRANT, BOB)
    own = await restarts.submit(BOB.model_copy(update={"roles": BOB.roles | {Role.EXECUTIVE}}))
    assert own.status == "awaiting_approval", "bob's grant approved bob's own request"
    other = await restarts.submit()
    assert other.status == "scheduled"


async def test_a_grant_covers_its_exact_plan_only(restarts: Restarts) -> None:
    plan = await _proposed(restarts)
    await restarts.decide(plan, Decision.GRANT, BOB)
    longer = await submit(
        restarts.rt,
        request(procedure="restart", requested_by="alice", description="other criteria",
                validation_criteria=["system_functionality_maintained", "no_data_loss"]),
    )  # fmt: skip
    assert longer.plan_hash != plan
    assert longer.status == "awaiting_approval"


async def test_a_plan_the_crown_must_approve_is_never_proposed(
    settings: Settings, tmp_path: Path
) -> None:
    r = await open_restarts(settings, tmp_path)
    try:
        plan = None
        for _ in range(3):  # nine systems: the blast radius makes it critical
            wide = request(procedure="restart", requested_by="alice",
                           affected_systems=[f"s{i}" for i in range(9)])  # fmt: skip
            op = await submit(r.rt, wide)
            assert op.planning_result is not None
            assert op.planning_result.required_approvals == [Authority.LEGISLATIVE, Authority.CROWN]
            await approve(r.rt, op.operation_id, BOB)
            async with r.rt.session() as session:
                await approve_operation(
                    session, r.rt.powers, operation_id=op.operation_id, approver=CAROL,
                    authority=Authority.CROWN, plan_hash=op.plan_hash or "",
                )  # fmt: skip
                await lifecycle.commit(session)
            await drive(r.rt)
            done = await load(r.rt, op.operation_id)
            assert done.status == "completed", done.status_reason
            plan = done.plan_hash
        assert plan is not None
        record = await r.record(plan)
        assert (record.standing, record.streak) == (Standing.NONE, 3)
    finally:
        await r.rt.close()


async def test_off_in_governance_proposes_nothing_and_grants_approve_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    r = await open_restarts(settings, tmp_path)
    try:
        plan = await _proposed(r)
        await r.decide(plan, Decision.GRANT, BOB)
    finally:
        await r.rt.close()
    off = await open_restarts(settings, tmp_path, enabled=False)
    try:
        waiting = await off.submit()
        assert waiting.status == "awaiting_approval", "a grant approved under governance off"
        other = (await off.run()).plan_hash  # its record counts on, nothing proposed
        assert other == plan
        assert (await off.record(plan)).standing is Standing.STANDARD
    finally:
        await off.rt.close()


async def test_a_record_edited_to_standard_is_named_by_audit_verify(restarts: Restarts) -> None:
    plan = (await restarts.run()).plan_hash
    assert plan is not None
    async with restarts.rt.session() as session:
        await session.execute(
            update(StandardChangeRow)
            .where(StandardChangeRow.plan_hash == plan)
            .values(standing="standard", decided_by="mallory", streak=9)
        )
        await session.commit()
    async with restarts.rt.session(read_only=True) as session:
        report = await audit.verify(session)
    said = {str(d) for d in report.discrepancies if d.kind == "standard_change"}
    assert not report.ok
    assert any("standing is 'standard' but the ledger says 'none'" in s for s in said), said
    assert any("decided_by is 'mallory'" in s for s in said), said
    assert any("streak is 9" in s for s in said), said


@pytest.mark.parametrize(
    ("plan", "error", "says"),
    [
        ("abc", InvalidRequest, "at least its first 8"),
        ("zzzzzzzzzz", InvalidRequest, "hex digits"),
        ("0123456789abcdef", NotFound, "no standard change"),
    ],
)
async def test_a_bad_plan_name_is_a_clear_error(
    restarts: Restarts, plan: str, error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        await restarts.decide(plan, Decision.GRANT, BOB)


async def test_an_emergency_of_the_same_plan_that_fails_takes_the_standing_too(
    restarts: Restarts,
) -> None:
    plan = await _proposed(restarts)
    await restarts.decide(plan, Decision.GRANT, BOB)
    restarts.flag.write_text("down")
    emergency = request(
        [("command.restart", {})],
        operation_type="emergency",
        constitutional_authority="crown",
        requested_by="carol",
        emergency_priority=True,
        rollback_plan="Start the previous release again.",
        validation_criteria=["system_functionality_maintained"],
    )
    op = await submit(restarts.rt, emergency, CAROL)
    assert op.plan_hash == plan, "the same steps, systems, rollback plan and criteria"
    await drive(restarts.rt)
    assert (await load(restarts.rt, op.operation_id)).status == "failed"
    record = await restarts.record(plan)
    assert (record.standing, record.failures) == (Standing.REVOKED, 1)
    assert record.reason is not None and op.operation_id in record.reason
