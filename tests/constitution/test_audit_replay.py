"""Verification replays the ledger and names every stored record that disagrees with it.

The history is made through the services, as in production, once per backend; each test
gets its own copy of that database. The tampering is done with plain SQL, as someone with
write access to the database would do it, and each test names exactly what it must find.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import delete, insert, select, update

from tests.fixtures.api import Api
from tests.fixtures.databases import _pg_execute, _pg_url
from tests.fixtures.pipeline import ALICE, BOB, CAROL, JUDGE, load, request, submit
from triadops.actions.base import ActionContext, Output
from triadops.actions.noop import NoopOnceAction, NoopParams
from triadops.constitution import ledger, lifecycle
from triadops.constitution.crown import tokens
from triadops.constitution.crown.reviews import review_change
from triadops.constitution.crown.service import acknowledge, cancel_operation, freeze, unfreeze
from triadops.constitution.judicial.service import resolve_in_doubt
from triadops.constitution.ledger import audit
from triadops.constitution.legislative.approvals import approve_operation, reject_operation
from triadops.constitution.legislative.service import amend_operation
from triadops.domain.chain import link_hash, plan_hash
from triadops.domain.clock import FakeClock, using
from triadops.domain.enums import Authority, OperationStatus, Risk, Role, StepStatus
from triadops.domain.events import EVENT_TYPES, TokenCreated
from triadops.domain.identity import Identity
from triadops.domain.ledger import VerifyReport
from triadops.domain.operations import (
    OperationRequest,
    Plan,
    PlannedStep,
    StepPreview,
    StepSpec,
    utcnow,
)
from triadops.domain.sops import ReviewNotes
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage import ledger as ledger_store
from triadops.storage.operations import get_operation
from triadops.storage.tables import (
    ApprovalRow,
    CrownStateRow,
    LedgerHeadRow,
    LedgerRow,
    OperationRow,
    PrincipalRow,
    StepRow,
    TokenRow,
)
from triadops.worker.claims import drive_once

QUEEN = Identity(name="elizabeth", roles=frozenset({Role.CROWN}))
S = OperationStatus


class WorkerDied(BaseException):
    """The worker process is gone: nothing after this line of its work happens."""


class DiesMidStep(NoopOnceAction):
    """A non-idempotent step whose worker dies while it runs (in-process, no real kill)."""

    name: ClassVar[str] = "drill.dies"
    description: ClassVar[str] = "Kill the worker in the middle of the step"

    async def run(self, ctx: ActionContext, params: NoopParams) -> Output:
        raise WorkerDied


async def verify(rt: Runtime) -> VerifyReport:
    async with rt.session(read_only=True) as session:
        return await audit.verify(session)


def found(report: VerifyReport) -> list[str]:
    assert report.chain_intact, report.problem
    return [str(d) for d in report.discrepancies]


async def tamper(rt: Runtime, *statements: Any) -> None:
    """Change rows directly, past every service, and commit."""
    async with rt.session() as session:
        for statement in statements:
            await session.execute(statement)
        await session.commit()


async def drain(rt: Runtime) -> None:
    """Drive until nothing is due (a bounded number of rounds, so a bug cannot hang it)."""
    for _ in range(200):
        if not await drive_once(rt.powers, owner="w"):
            return
    raise AssertionError("operations were still due after 200 rounds")


def high_risk(operation_id: str) -> OperationRequest:
    """Needs one legislative approval (medium action, wide blast radius, a rollback plan)."""
    return request(
        [("database.purge_audit_logs", {})],
        operation_id=operation_id,
        affected_systems=["a", "b", "c", "d"],
        rollback_plan="restore audit_logs from the hourly backup",
    )


async def approve(rt: Runtime, operation_id: str, who: Identity, authority: Authority) -> None:
    async with rt.session() as session:
        reviewed = (await get_operation(session, operation_id)).plan_hash
        assert reviewed is not None
        await approve_operation(
            session,
            rt.powers,
            operation_id=operation_id,
            approver=who,
            authority=authority,
            plan_hash=reviewed,
        )
        await lifecycle.commit(session)


STATUSES = {
    "op-amended": S.COMPLETED,
    "op-cancelled": S.CANCELLED,
    "op-done": S.COMPLETED,
    "op-done-2": S.COMPLETED,
    "op-doubt": S.COMPLETED,
    "op-emergency": S.COMPLETED,
    "op-failed": S.FAILED,
    "op-rejected": S.REJECTED,
    "op-rollback-failed": S.FAILED,
    "op-rolled": S.ROLLED_BACK,
    "op-stop": S.ROLLED_BACK,
    "op-waiting": S.AWAITING_APPROVAL,
}
"""Every operation of the honest history, and how it ended."""


async def build_history(rt: Runtime) -> None:
    """Make real history through the services: every final state and then some."""
    async with rt.session() as session:
        await tokens.create_token(session, name="ci", roles=[Role.VIEWER], by="carol")
        await tokens.create_token(
            session, name="deploy", roles=[Role.EXECUTIVE], by="carol", principal="dora"
        )
        await tokens.create_token(session, name="old-bot", roles=[Role.VIEWER], by="carol")
        await lifecycle.commit(session)
    async with rt.session() as session:
        await tokens.revoke_token(session, name="old-bot", by="carol")
        await freeze(session, by=CAROL, reason="drill")
        await lifecycle.commit(session)
    async with rt.session() as session:
        await unfreeze(session, by=CAROL)
        await lifecycle.commit(session)

    plain = {
        "op-done": [("noop", {})],
        "op-done-2": [("noop", {}), ("noop", {"sleep_s": 0.01})],
        "op-failed": [("noop", {"fail": True})],
        "op-rolled": [("noop", {}), ("noop", {"fail": True})],
        "op-rollback-failed": [("noop", {"fail_rollback": True}), ("noop", {"fail": True})],
        "op-cancelled": [("noop", {})],
    }
    for operation_id, steps in plain.items():
        await submit(rt, request(steps, operation_id=operation_id))
    for operation_id in ("op-rejected", "op-waiting"):
        await submit(rt, high_risk(operation_id))
    critical = request(
        [("database.purge_audit_logs", {})],
        operation_id="op-amended",
        affected_systems=["a", "b", "c", "d"],
    )
    await submit(rt, critical)
    emergency = request(
        operation_id="op-emergency",
        operation_type="emergency",
        constitutional_authority="crown",
        requested_by="carol",
        emergency_priority=True,
    )
    await submit(rt, emergency, who=CAROL)

    async with rt.session() as session:
        await cancel_operation(session, operation_id="op-cancelled", by=ALICE)
        await reject_operation(session, operation_id="op-rejected", by=BOB, reason="not now")
        await lifecycle.commit(session)
    await approve(rt, "op-amended", BOB, Authority.LEGISLATIVE)
    async with rt.session() as session:
        amended = StepSpec(action="database.purge_audit_logs", params={"older_than_days": 90})
        await amend_operation(
            session, rt.powers, operation_id="op-amended", steps=[amended], by=ALICE
        )
        await lifecycle.commit(session)
    await approve(rt, "op-amended", CAROL, Authority.CROWN)
    await approve(rt, "op-amended", BOB, Authority.LEGISLATIVE)
    await drain(rt)
    async with rt.session() as session:
        await acknowledge(session, operation_id="op-emergency", by=QUEEN)
        await lifecycle.commit(session)
    async with rt.session() as session:
        notes = ReviewNotes(lessons="paged in time", note="INC-1")
        await review_change(session, operation_id="op-emergency", by=QUEEN, notes=notes)
        await lifecycle.commit(session)

    # A worker dies in a non-idempotent step: in doubt until a judge rules. The clock
    # moves past its lease instead of the test sleeping it out.
    with using(FakeClock()) as clock:
        assert isinstance(clock, FakeClock)
        await submit(rt, request([("drill.dies", {})], operation_id="op-doubt"))
        with pytest.raises(WorkerDied):
            await drive_once(rt.powers, owner="doomed")
        clock.advance(rt.settings.lease_s + 1)
        await drain(rt)
        assert (await load(rt, "op-doubt")).status is S.IN_DOUBT
        async with rt.session() as session:
            await resolve_in_doubt(session, operation_id="op-doubt", step_succeeded=True, by=JUDGE)
            await lifecycle.commit(session)
        await drain(rt)

    # The crown cancels a running operation: it stops at the next step and rolls back.
    await submit(rt, request([("noop", {"sleep_s": 0.3}), ("noop", {})], operation_id="op-stop"))
    driving = asyncio.create_task(drain(rt))
    async with asyncio.timeout(30):
        while (await load(rt, "op-stop")).steps[0].status is not StepStatus.RUNNING:
            await asyncio.sleep(0.02)
    async with rt.session() as session:
        await cancel_operation(session, operation_id="op-stop", by=CAROL)
        await lifecycle.commit(session)
    await driving

    async with rt.session() as session:
        await freeze(session, by=CAROL, reason="end of the drill")
        await lifecycle.commit(session)

    for operation_id, status in STATUSES.items():
        op = await load(rt, operation_id)
        assert op.status is status, (operation_id, op.status, op.status_reason)


async def build_history_into(url: str, home: Path) -> None:
    settings = Settings(home=home, database_url=url)
    rt = await Runtime.open(settings, migrate=False)
    rt.actions.register(DiesMidStep())
    try:
        await build_history(rt)
    finally:
        await rt.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def history_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database holding the honest history, built once per backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("history") / "triad.db"
        shutil.copy(template, path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        pg_template: str = request.getfixturevalue("pg_template")
        name = f"triad_h_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
        url = _pg_url(name)
    asyncio.run(build_history_into(url, tmp_path_factory.mktemp("history-home")))
    yield url
    if request.param == "postgres":
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(history_database: str, tmp_path: Path) -> Iterator[str]:
    """A private copy of the history database for one test to tamper with."""
    if history_database.startswith("sqlite"):
        source = Path(history_database.removeprefix("sqlite+aiosqlite:///"))
        for suffix in ("", "-wal"):
            if Path(f"{source}{suffix}").exists():
                shutil.copy(f"{source}{suffix}", tmp_path / f"triad.db{suffix}")
        yield f"sqlite+aiosqlite:///{tmp_path / 'triad.db'}"
        return
    name = f"triad_t_{uuid.uuid4().hex[:12]}"
    source_name = history_database.rsplit("/", 1)[1]
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{source_name}"'))
    yield _pg_url(name)
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_honest_history_verifies_clean(runtime: Runtime) -> None:
    report = await verify(runtime)

    assert report.ok, [str(d) for d in report.discrepancies] or report.problem
    assert report.discrepancies == []
    assert report.operations_checked == len(STATUSES)
    assert report.tokens_checked == 3
    async with runtime.session() as session:
        assert report.entries_checked == await session.scalar(select(LedgerHeadRow.seq))


async def test_failed_operation_marked_completed(runtime: Runtime) -> None:
    await tamper(
        runtime,
        update(OperationRow).where(OperationRow.id == "op-failed").values(status="completed"),
    )

    report = await verify(runtime)

    assert not report.ok
    assert found(report) == [
        "operation op-failed: stored status completed but the ledger's last transition is to failed"
    ]
    assert report.discrepancies[0].kind == "operation"
    assert report.discrepancies[0].subject == "operation op-failed"


async def stored_plan(rt: Runtime, operation_id: str) -> tuple[dict[str, Any], str]:
    async with rt.session() as session:
        row = await get_operation(session, operation_id)
        assert row.plan is not None and row.plan_hash is not None
        return row.plan, row.plan_hash


async def test_plan_params_edited(runtime: Runtime) -> None:
    plan, digest = await stored_plan(runtime, "op-done")
    plan["steps"][0]["params"]["sleep_s"] = 600
    await tamper(
        runtime, update(OperationRow).where(OperationRow.id == "op-done").values(plan=plan)
    )

    assert found(await verify(runtime)) == [
        f"operation op-done: stored plan does not hash to the ledger's plan hash {digest[:12]}…"
    ]


async def test_plan_hash_column_edited(runtime: Runtime) -> None:
    _, digest = await stored_plan(runtime, "op-waiting")
    await tamper(
        runtime,
        update(OperationRow).where(OperationRow.id == "op-waiting").values(plan_hash="f" * 64),
    )

    assert found(await verify(runtime)) == [
        f"operation op-waiting: stored plan hash {'f' * 12}… but the ledger's plan hash is "
        f"{digest[:12]}…"
    ]


async def test_step_params_edited(runtime: Runtime) -> None:
    _, digest = await stored_plan(runtime, "op-amended")
    async with runtime.session() as session:
        params = await session.scalar(
            select(StepRow.params).where(StepRow.operation_id == "op-amended")
        )
    # The approved plan purges rows older than 90 days; the attacker makes it one day.
    assert params is not None and params["older_than_days"] == 90
    await tamper(
        runtime,
        update(StepRow)
        .where(StepRow.operation_id == "op-amended", StepRow.index == 0)
        .values(params={**params, "older_than_days": 1}),
    )

    assert found(await verify(runtime)) == [
        f"step 0 of op-amended: stored params do not hash to the ledger's plan {digest[:12]}…"
    ]


async def test_fake_approval_inserted(runtime: Runtime) -> None:
    _, digest = await stored_plan(runtime, "op-waiting")
    await tamper(
        runtime,
        insert(ApprovalRow).values(
            operation_id="op-waiting",
            approver="mallory",
            authority="legislative",
            plan_hash=digest,
            at=utcnow(),
        ),
    )

    report = await verify(runtime)

    assert found(report) == [
        f"approval of op-waiting by mallory (legislative, plan {digest[:12]}…): "
        "stored but not in the ledger (inserted)"
    ]
    assert report.discrepancies[0].kind == "approval"


async def test_approval_deleted(runtime: Runtime) -> None:
    _, digest = await stored_plan(runtime, "op-amended")
    await tamper(
        runtime,
        delete(ApprovalRow).where(
            ApprovalRow.operation_id == "op-amended", ApprovalRow.approver == "carol"
        ),
    )

    assert found(await verify(runtime)) == [
        f"approval of op-amended by carol (crown, plan {digest[:12]}…): "
        "in the ledger but not stored (deleted)"
    ]


async def test_step_status_edited(runtime: Runtime) -> None:
    await tamper(
        runtime,
        update(StepRow)
        .where(StepRow.operation_id == "op-rolled", StepRow.index == 1)
        .values(status="succeeded"),
    )

    report = await verify(runtime)

    assert found(report) == ["step 1 of op-rolled: stored status succeeded, ledger says failed"]
    assert report.discrepancies[0].kind == "step"


async def test_token_given_the_crown_role(runtime: Runtime) -> None:
    await tamper(
        runtime, update(TokenRow).where(TokenRow.name == "ci").values(roles=["crown", "viewer"])
    )

    report = await verify(runtime)

    assert found(report) == ["token ci: stored roles crown,viewer but the ledger granted viewer"]
    assert (report.discrepancies[0].kind, report.discrepancies[0].subject) == ("token", "token ci")


async def test_token_hash_swapped(runtime: Runtime) -> None:
    # The attacker's own secret now unlocks the deploy token.
    forged = hashlib.sha256(b"triad_mallory-knows-this-one").hexdigest()
    await tamper(
        runtime, update(TokenRow).where(TokenRow.name == "deploy").values(token_hash=forged)
    )

    assert found(await verify(runtime)) == [
        "token deploy: stored hash does not match its fingerprint in the ledger (swapped)"
    ]


async def test_revoked_token_brought_back(runtime: Runtime) -> None:
    await tamper(
        runtime, update(TokenRow).where(TokenRow.name == "old-bot").values(revoked_at=None)
    )

    assert found(await verify(runtime)) == [
        "token old-bot: stored as active but the ledger revoked it"
    ]


async def test_operation_deleted_with_its_steps(runtime: Runtime) -> None:
    await tamper(
        runtime,
        delete(StepRow).where(StepRow.operation_id == "op-failed"),
        delete(ApprovalRow).where(ApprovalRow.operation_id == "op-failed"),
        delete(OperationRow).where(OperationRow.id == "op-failed"),
    )

    report = await verify(runtime)

    assert found(report) == ["operation op-failed: in the ledger but not stored (deleted)"]
    assert report.operations_checked == len(STATUSES) - 1


async def test_operation_inserted(runtime: Runtime) -> None:
    async with runtime.session() as session:
        op = (
            (
                await session.execute(
                    select(OperationRow.__table__).where(OperationRow.id == "op-done")
                )
            )
            .mappings()
            .one()
        )
        step = (
            (
                await session.execute(
                    select(StepRow.__table__).where(StepRow.operation_id == "op-done")
                )
            )
            .mappings()
            .one()
        )
    await tamper(
        runtime,
        insert(OperationRow).values({**op, "id": "op-forged"}),
        insert(StepRow).values(
            {**step, "operation_id": "op-forged", "idempotency_key": "op-forged:0"}
        ),
    )

    assert found(await verify(runtime)) == [
        "operation op-forged: stored but never submitted in the ledger (inserted)"
    ]


async def test_truncated_tail_with_the_head_moved_back(runtime: Runtime) -> None:
    async with runtime.session() as session:
        completed = await session.scalar(
            select(LedgerRow.seq).where(
                LedgerRow.operation_id == "op-doubt", LedgerRow.to_status == "completed"
            )
        )
        assert completed is not None
        cut = completed - 1
        last_hash = await session.scalar(select(LedgerRow.hash).where(LedgerRow.seq == cut))
    await tamper(
        runtime,
        delete(LedgerRow).where(LedgerRow.seq > cut),
        update(LedgerHeadRow).values(seq=cut, hash=last_hash),
    )

    report = await verify(runtime)

    # The chain alone is fooled; the state is ahead of what the ledger explains.
    assert report.chain_intact and report.entries_checked == cut
    assert not report.ok
    assert found(report) == [
        "operation op-doubt: stored status completed but the ledger's last transition is "
        "to validating",
        "operation op-stop: stored but never submitted in the ledger (inserted)",
        "crown: stored frozen=true but the ledger's last word is unfreeze",
    ]


async def rewrite_ledger(rt: Runtime, edits: dict[int, dict[str, Any]]) -> None:
    """Edit entries in place, then recompute every later hash and the head, as a forger would."""
    async with rt.session() as session:
        stmt = select(LedgerRow).where(LedgerRow.seq >= min(edits)).order_by(LedgerRow.seq)
        rows = (await session.execute(stmt)).scalars().all()
        prev = rows[0].prev_hash
        for row in rows:
            for column, value in edits.get(row.seq, {}).items():
                setattr(row, column, value)
            row.prev_hash = prev
            row.hash = prev = link_hash(prev, ledger_store.entry_body(row))
        await session.execute(update(LedgerHeadRow).values(seq=rows[-1].seq, hash=prev))
        await session.commit()


async def transition_seq(rt: Runtime, operation_id: str, source: str, target: str) -> int:
    async with rt.session() as session:
        seq = await session.scalar(
            select(LedgerRow.seq).where(
                LedgerRow.operation_id == operation_id,
                LedgerRow.event == "transition",
                LedgerRow.from_status == source,
                LedgerRow.to_status == target,
            )
        )
    assert seq is not None
    return seq


async def test_a_forged_illegal_transition_with_the_chain_recomputed_is_named(
    runtime: Runtime,
) -> None:
    # The forger's story for op-done: cancelled while scheduled, and then it ran to completion
    # anyway. Once as a break in the story (the next entry still starts at executing), once
    # told seamlessly (cancelled → validating, which the lifecycle never allows).
    broken = await transition_seq(runtime, "op-done", "scheduled", "executing")
    seamless = await transition_seq(runtime, "op-done-2", "scheduled", "executing")
    onward = await transition_seq(runtime, "op-done-2", "executing", "validating")
    resumed = await transition_seq(runtime, "op-done", "executing", "validating")
    await rewrite_ledger(
        runtime,
        {
            broken: {"to_status": "cancelled"},
            seamless: {"to_status": "cancelled"},
            onward: {"from_status": "cancelled"},
        },
    )

    report = await verify(runtime)

    assert report.chain_intact, "the forger recomputed every hash"
    assert found(report) == [
        f"operation op-done: entry {resumed}: transition executing → validating does not "
        "follow on: the previous transition ended at cancelled (discontinuous)",
        f"operation op-done-2: entry {onward}: transition cancelled → validating is not a "
        "legal transition (forged)",
    ]


async def test_a_forged_step_transition_with_the_chain_recomputed_is_named(
    runtime: Runtime,
) -> None:
    async with runtime.session() as session:
        entry = (
            await session.execute(
                select(LedgerRow.seq, LedgerRow.details).where(
                    LedgerRow.operation_id == "op-failed", LedgerRow.event == "step_failed"
                )
            )
        ).one()
    # The forger says the failed step was skipped (what only a rollback does, to a step
    # that succeeded), and makes the stored row agree.
    await rewrite_ledger(runtime, {entry.seq: {"details": {**entry.details, "status": "skipped"}}})
    await tamper(
        runtime,
        update(StepRow).where(StepRow.operation_id == "op-failed").values(status="skipped"),
    )

    report = await verify(runtime)

    assert report.chain_intact
    assert found(report) == [
        f"step 0 of op-failed: entry {entry.seq}: running → skipped is not a legal step "
        "transition (forged)"
    ]


async def test_a_review_edited_inserted_or_deleted_is_named(runtime: Runtime) -> None:
    await tamper(
        runtime,
        update(OperationRow)
        .where(OperationRow.id == "op-emergency")
        .values(review_lessons="nothing to learn"),
        update(OperationRow)
        .where(OperationRow.id == "op-done")
        .values(reviewed_by="carol", reviewed_at=utcnow(), review_lessons="forged"),
    )
    assert found(await verify(runtime)) == [
        "operation op-done: stored review by carol but the ledger records none (inserted)",
        "operation op-emergency: stored review's lessons or note differ from the ledger's (edited)",
    ]
    await tamper(
        runtime,
        update(OperationRow)
        .where(OperationRow.id.in_(["op-emergency", "op-done"]))
        .values(reviewed_by=None, reviewed_at=None, review_lessons=None, review_note=None),
    )
    assert found(await verify(runtime)) == [
        "operation op-emergency: the ledger records a review by elizabeth but none is "
        "stored (deleted)"
    ]


async def test_freeze_flag_flipped(runtime: Runtime) -> None:
    await tamper(runtime, update(CrownStateRow).values(frozen=False, frozen_by=None))

    report = await verify(runtime)

    assert found(report) == ["crown: stored frozen=false but the ledger's last word is freeze"]
    assert report.discrepancies[0].kind == "crown"


async def test_every_finding_is_named_at_once(runtime: Runtime) -> None:
    await tamper(
        runtime,
        update(OperationRow).where(OperationRow.id == "op-failed").values(status="completed"),
        update(TokenRow).where(TokenRow.name == "ci").values(roles=["crown"]),
        update(CrownStateRow).values(frozen=False),
    )

    assert [d.subject for d in (await verify(runtime)).discrepancies] == [
        "operation op-failed",
        "token ci",
        "crown",
    ]


def legacy_plan() -> Plan:
    step = PlannedStep(
        index=0,
        action="noop",
        params={"sleep_s": 0.0},
        risk=Risk.LOW,
        reversible=True,
        idempotent=True,
        timeout_s=3700.0,
        preview=StepPreview(summary="wait 0 s, then succeed; touches nothing"),
    )
    return Plan(steps=[step], affected_systems=[], rollback_plan=None, validation_criteria=[])


async def write_legacy_history(rt: Runtime) -> None:
    """Rows and ledger entries as the first releases wrote them, before plan authors,
    token principals and fingerprints, and step statuses in the ledger."""
    plan = legacy_plan()
    digest = plan_hash(plan.binding())
    now = utcnow()
    async with rt.session() as session:
        # The principals migration made principals for existing tokens, with no entry.
        session.add(PrincipalRow(name="old-ci", kind="person", created_at=now))
        session.add(
            TokenRow(
                name="old-ci",
                principal="old-ci",
                token_hash=hashlib.sha256(b"triad_old").hexdigest(),
                roles=["viewer"],
                created_at=now,
            )
        )
        # Entries older than some of their fields: built without validation, as written then.
        ledger.record(
            session, TokenCreated.model_construct(name="old-ci", roles=["viewer"]), actor="cli"
        )
        session.add(
            OperationRow(
                id="op-old",
                status="completed",
                operation_type="maintenance",
                procedure=None,
                requested_by="alice",
                plan_author="alice",  # set by the migration, never in the ledger
                request={"description": "from an old release"},
                plan=plan.model_dump(mode="json"),
                plan_hash=digest,
                approved_plan_hash=None,  # the migration left it empty
                acknowledgement_overdue=False,
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            StepRow(
                operation_id="op-old",
                index=0,
                action="noop",
                params={"sleep_s": 0.0},
                status="succeeded",
                attempts=1,
                idempotency_key="op-old:0",
                output={},
                rollback_output={},
            )
        )
        entries: list[tuple[str, str, str | None, str | None, dict[str, Any]]] = [
            ("alice", "submitted", None, "submitted", {"type": "maintenance"}),
            ("legislative:rules", "transition", "submitted", "reviewing", {}),
            ("legislative:rules", "plan", None, None, {"plan_hash": digest, "steps": 1}),
            ("legislative:rules", "transition", "reviewing", "approved", {"reason": "rules"}),
            ("legislative:rules", "transition", "approved", "scheduled", {"at": None}),
            ("executive:w", "transition", "scheduled", "executing", {}),
            ("executive:w", "step_started", None, None, {"step": 0, "action": "noop"}),
            ("executive:w", "step_succeeded", None, None, {"step": 0, "error": None}),
            ("executive:w", "transition", "executing", "validating", {}),
            ("judicial:rules", "transition", "validating", "completed", {}),
        ]
        for actor, event, source, target, details in entries:
            kind = EVENT_TYPES[event]
            columns = {"from_status": source, "to_status": target}
            said = {key: value for key, value in columns.items() if key in kind.COLUMNS}
            ledger.record(
                session,
                kind.model_construct(**said, **details),
                actor=actor,
                operation_id="op-old",
            )
        await lifecycle.commit(session)


async def test_entries_older_than_their_fields_leave_only_that_aspect_unchecked(
    runtime: Runtime,
) -> None:
    await write_legacy_history(runtime)
    await submit(runtime, request(operation_id="op-new"))
    assert found(await verify(runtime)) == []

    # What the old entries do not carry cannot be told apart from the truth: no finding.
    await tamper(
        runtime,
        update(OperationRow).where(OperationRow.id == "op-old").values(plan_author="mallory"),
        update(StepRow).where(StepRow.operation_id == "op-old").values(status="failed"),
        update(TokenRow).where(TokenRow.name == "old-ci").values(token_hash="0" * 64),
    )
    assert found(await verify(runtime)) == []

    # What they do carry is still checked.
    await tamper(
        runtime,
        update(OperationRow).where(OperationRow.id == "op-old").values(status="failed"),
        update(TokenRow).where(TokenRow.name == "old-ci").values(roles=["crown"]),
    )
    assert found(await verify(runtime)) == [
        "operation op-old: stored status failed but the ledger's last transition is to completed",
        "token old-ci: stored roles crown but the ledger granted viewer",
    ]


async def test_a_worker_committing_meanwhile_causes_no_finding(runtime: Runtime) -> None:
    # Without one snapshot for the whole walk, an operation that moves between the read of
    # the ledger and the read of the operations would look like state ahead of the ledger.
    async with runtime.session() as session:
        await unfreeze(session, by=CAROL)
        await lifecycle.commit(session)
    stop = asyncio.Event()
    committed = 0

    async def keep_busy() -> None:
        # Submit and drive in rounds until the walks are done: however fast or slow the
        # machine, every walk below meets operations moving under it.
        nonlocal committed
        while not stop.is_set():
            for _ in range(10):
                op = request([("noop", {}), ("noop", {})], operation_id=f"op-busy-{committed}")
                await submit(runtime, op)
                committed += 1
            await drain(runtime)

    driving = asyncio.create_task(keep_busy())
    reports = []
    while len(reports) < 4:
        reports.append(await verify(runtime))
    stop.set()
    await driving

    assert committed >= 10
    for report in reports:
        assert report.ok, [str(d) for d in report.discrepancies] or report.problem


async def test_the_api_returns_the_same_report(api: Api, rt: Runtime) -> None:
    await tamper(
        rt, update(OperationRow).where(OperationRow.id == "op-failed").values(status="completed")
    )

    response = await api.get("/audit/verify")

    assert response.status_code == 200
    body = response.json()
    assert body == (await verify(rt)).model_dump(mode="json")
    assert body["ok"] is False and body["first_bad_seq"] is None
    assert body["discrepancies"] == [
        {
            "kind": "operation",
            "subject": "operation op-failed",
            "problem": "stored status completed but the ledger's last transition is to failed",
        }
    ]
