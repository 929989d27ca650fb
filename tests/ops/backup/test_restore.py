"""Restoring a backup over a configured target, through the whole pipeline, on both databases.

The happy path: a safety backup of the target first, the restore, the judiciary's row
comparison. The refusals, each before anything changes: triad's own database, a backup that
is not a database backup, another engine's backup, a schema newer than this code or than
the target's, a backup failing verification. The authority doors, each an attacker's try:
- a legislative approval alone (the operation waits; the worker runs nothing);
- the requester approving under the crown (not a crown holder; or a crown holder who asked);
- one principal holding both roles giving both consents;
- a finding weakened to need the legislature only: the executive's gate refuses to start;
- a forged field in the request or the step's parameters (refused at the door);
- ``--as`` (``tests/cli/test_backup_restore.py``; over HTTP, ``tests/api/test_backup_restore.py``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update

from tests.fixtures.api import drive
from tests.fixtures.pipeline import ALICE, BOB, CAROL, load, submit
from tests.fixtures.targets import ORDERS, drop_shop, execute, make_shop, orders
from triadops.actions.backup_files import backup_folder
from triadops.checks.base import CheckContext
from triadops.constitution import lifecycle
from triadops.constitution.crown.audit import verify
from triadops.constitution.executive.crown_consent import CriticalNeedsTheCrown
from triadops.constitution.legislative.approvals import approve_operation
from triadops.constitution.lifecycle import Attempt
from triadops.domain.enums import Authority, OperationStatus, Risk, Role
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest
from triadops.domain.identity import Identity
from triadops.domain.operations import Operation, OperationRequest
from triadops.ops.backup.requests import backup_request, restore_request
from triadops.ops.backup.restored import RestoreMatchesBackup
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.backups import find_backup
from triadops.storage.migrate import head_revision
from triadops.storage.tables import BackupRow, LedgerRow, OperationRow

S = OperationStatus
EDWARD = Identity(name="edward", roles=frozenset({Role.CROWN}))
EVE = Identity(name="eve", roles=frozenset({Role.EXECUTIVE}))
BOTH = Identity(name="dora", roles=frozenset({Role.LEGISLATIVE, Role.CROWN}))


@pytest.fixture
async def shop_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    url = await make_shop("sqlite" if database_url.startswith("sqlite") else "pg", tmp_path)
    yield url
    await drop_shop(url)


@pytest.fixture
async def other_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A shop on the other engine than triad's own."""
    url = await make_shop("pg" if database_url.startswith("sqlite") else "sqlite", tmp_path)
    yield url
    await drop_shop(url)


@pytest.fixture
def settings(settings: Settings, shop_url: str, other_url: str) -> Settings:
    return settings.model_copy(update={"database_targets": {"shop": shop_url, "other": other_url}})


async def backed_up(rt: Runtime, target: str = "shop") -> str:
    """Back the target up through the pipeline; the backup's id."""
    req = backup_request(target=target, requested_by="alice", authority=Authority.EXECUTIVE)
    await submit(rt, req)
    await drive(rt)
    op = await load(rt, req.operation_id)
    assert op.status is S.COMPLETED, op.status_reason
    return str(op.steps[0].output["backup_id"])


def restoring(backup_id: str, target: str = "shop", **fields: object) -> OperationRequest:
    req = restore_request(
        backup_id=backup_id, target=target, requested_by="alice", authority=Authority.EXECUTIVE
    )
    return req.model_copy(update=fields) if fields else req


async def consent(rt: Runtime, op: Operation, who: Identity, authority: Authority) -> Operation:
    async with rt.session() as session:
        await approve_operation(
            session,
            rt.powers,
            operation_id=op.operation_id,
            approver=who,
            authority=authority,
            plan_hash=str(op.plan_hash),
        )
        await lifecycle.commit(session)
    return await load(rt, op.operation_id)


async def changed_shop(url: str) -> int:
    """Change the shop after its backup: three orders more, one less."""
    await execute(url, "INSERT INTO orders (id, item) VALUES (100, 'y'), (101, 'y'), (102, 'y')")
    await execute(url, "DELETE FROM orders WHERE id = 0")
    return ORDERS + 2


async def test_a_restore_approved_by_the_legislature_and_the_crown_brings_the_rows_back(
    runtime: Runtime, shop_url: str
) -> None:
    backup_id = await backed_up(runtime)
    now = await changed_shop(shop_url)
    op = await submit(runtime, restoring(backup_id))
    assert op.status is S.AWAITING_APPROVAL
    assert op.planning_result is not None and op.planning_result.risk_level is Risk.CRITICAL
    assert op.planning_result.required_approvals == [Authority.LEGISLATIVE, Authority.CROWN]
    assert [s.action for s in op.steps] == ["backup.database", "backup.restore"]

    op = await consent(runtime, op, BOB, Authority.LEGISLATIVE)
    assert op.status is S.AWAITING_APPROVAL  # the legislature alone is not enough
    await drive(runtime)
    assert (await load(runtime, op.operation_id)).status is S.AWAITING_APPROVAL
    assert await orders(shop_url) == now

    op = await consent(runtime, op, CAROL, Authority.CROWN)
    assert op.status is S.SCHEDULED
    await drive(runtime)
    done = await load(runtime, op.operation_id)
    assert done.status is S.COMPLETED, done.status_reason
    assert await orders(shop_url) == ORDERS
    safety, restored = done.steps[0].output, done.steps[1].output
    assert restored["backup_id"] == backup_id and restored["row_counts"] == {"orders": ORDERS}
    async with runtime.session(read_only=True) as session:
        kept = await find_backup(session, str(safety["backup_id"]))
        assert kept is not None and kept.manifest["row_counts"] == {"orders": now}
        # The safety backup was stored before the restore step started.
        entries = (
            await session.scalars(
                select(LedgerRow)
                .where(LedgerRow.operation_id == op.operation_id)
                .order_by(LedgerRow.seq)
            )
        ).all()
        said = [(e.event, (e.details or {}).get("step")) for e in entries]
        assert said.index(("step_succeeded", 0)) < said.index(("step_started", 1))
    async with runtime.session(read_only=True) as session:
        assert (await verify(session)).ok
    assert done.validation_result is not None and done.validation_result.passed
    (finding,) = [f for f in done.validation_result.findings if f.name == "restore_matches_backup"]
    assert finding.passed and f"backup {backup_id} restored into shop" in finding.detail


async def test_the_judiciary_fails_a_restore_whose_rows_differ_from_the_manifest(
    runtime: Runtime, shop_url: str
) -> None:
    backup_id = await backed_up(runtime)
    op = await submit(runtime, restoring(backup_id))
    await consent(runtime, op, BOB, Authority.LEGISLATIVE)
    await consent(runtime, op, CAROL, Authority.CROWN)
    await drive(runtime)
    done = await load(runtime, op.operation_id)
    assert done.status is S.COMPLETED, done.status_reason
    await execute(shop_url, "DELETE FROM orders WHERE id < 2")  # rows lost after the restore
    ctx = CheckContext(runtime.settings, runtime.databases, runtime.engine, done, ["shop"])
    check = RestoreMatchesBackup()
    verdict = check.judge(ctx, {}, await check.measure(ctx))
    assert not verdict.passed
    assert f"orders: {ORDERS} in the manifest, {ORDERS - 2} restored" in verdict.detail


async def test_restoring_over_triads_own_database_is_refused_before_anything_is_stored(
    runtime: Runtime,
) -> None:
    backup_id = await backed_up(runtime, "triad")
    async with runtime.session() as session:
        before = len((await session.scalars(select(OperationRow.id))).all())
    with pytest.raises(InvalidRequest, match="triad's own database cannot be restored"):
        await submit(runtime, restoring(backup_id, target="triad"))
    async with runtime.session() as session:
        assert len((await session.scalars(select(OperationRow.id))).all()) == before


async def test_triads_own_database_under_another_name_is_refused(
    runtime: Runtime, shop_url: str
) -> None:
    backup_id = await backed_up(runtime)
    mirror = {"shop": shop_url, "mirror": runtime.settings.resolved_database_url}
    settings = runtime.settings.model_copy(update={"database_targets": mirror})
    aliased = await Runtime.open(settings, migrate=False)
    try:
        with pytest.raises(InvalidRequest, match="target mirror is triad's own database"):
            await submit(aliased, restoring(backup_id, target="mirror"))
    finally:
        await aliased.close()


async def test_a_backup_of_another_engine_is_refused_naming_both(
    runtime: Runtime, other_url: str
) -> None:
    backup_id = await backed_up(runtime)
    with pytest.raises(InvalidRequest, match=r"target other is (sqlite|postgresql)") as refused:
        await submit(runtime, restoring(backup_id, target="other"))
    assert "backup" in refused.value.message and refused.value.field == "steps[1].params.backup_id"
    assert await orders(other_url) == ORDERS


async def test_a_backup_that_is_not_a_database_backup_is_refused(
    runtime: Runtime, shop_url: str
) -> None:
    backup_id = await backed_up(runtime)
    async with runtime.session() as session:  # a type a newer release may write
        await session.execute(
            update(BackupRow)
            .where(BackupRow.id == backup_id)
            .values(manifest={**(await _manifest(runtime, backup_id)), "type": "logs"})
        )
        await session.commit()
    with pytest.raises(InvalidRequest, match="is a logs backup, not a database backup"):
        await submit(runtime, restoring(backup_id))
    assert await orders(shop_url) == ORDERS


async def _manifest(rt: Runtime, backup_id: str) -> dict[str, object]:
    async with rt.session(read_only=True) as session:
        row = await find_backup(session, backup_id)
        assert row is not None
        return dict(row.manifest)


async def test_a_backup_from_a_newer_schema_is_refused(runtime: Runtime, shop_url: str) -> None:
    backup_id = await backed_up(runtime, "triad")
    manifest = await _manifest(runtime, backup_id)
    assert manifest["schema_revision"] == head_revision()
    # The target is a triad database at an older revision: the backup is newer than it.
    assert head_revision() != "0012"
    await execute(shop_url, "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
    await execute(shop_url, "INSERT INTO alembic_version (version_num) VALUES ('0012')")
    with pytest.raises(InvalidRequest, match="newer than the target's 0012"):
        await submit(runtime, restoring(backup_id))
    # A revision this code does not ship: a newer triad wrote it.
    async with runtime.session() as session:
        await session.execute(
            update(BackupRow)
            .where(BackupRow.id == backup_id)
            .values(manifest={**manifest, "schema_revision": "0099"})
        )
        await session.commit()
    with pytest.raises(InvalidRequest, match="schema revision 0099, unknown to this triad"):
        await submit(runtime, restoring(backup_id))
    assert await orders(shop_url) == ORDERS


async def test_a_backup_failing_verification_fails_before_the_target_is_touched(
    runtime: Runtime, shop_url: str
) -> None:
    backup_id = await backed_up(runtime)
    now = await changed_shop(shop_url)
    manifest = await _manifest(runtime, backup_id)
    files = manifest["files"]
    assert isinstance(files, list)
    name = files[0]["name"]
    path = backup_folder(runtime.settings.backup_folder, backup_id) / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the sha256 finds it
    path.write_bytes(bytes(data))
    op = await submit(runtime, restoring(backup_id))
    await consent(runtime, op, BOB, Authority.LEGISLATIVE)
    await consent(runtime, op, CAROL, Authority.CROWN)
    await drive(runtime)
    failed = await load(runtime, op.operation_id)
    assert failed.status in {S.FAILED, S.ROLLED_BACK}
    assert f"{name}: sha256" in (failed.steps[1].error or "")
    assert await orders(shop_url) == now

    path.unlink()  # a missing file is refused at the door
    with pytest.raises(InvalidRequest, match=f"{name}: missing"):
        await submit(runtime, restoring(backup_id))


async def test_the_requester_cannot_consent_under_the_crown(runtime: Runtime) -> None:
    backup_id = await backed_up(runtime)
    op = await submit(runtime, restoring(backup_id))
    with pytest.raises(Forbidden):  # alice asked, and holds no crown role either
        await consent(runtime, op, ALICE, Authority.CROWN)
    with pytest.raises(Forbidden, match="does not hold the crown role"):
        await consent(runtime, op, EVE, Authority.CROWN)
    with pytest.raises(Forbidden, match="does not hold the crown role"):
        await consent(runtime, op, BOB, Authority.CROWN)
    # A crown holder who asked cannot consent to their own request either.
    cora = Identity(name="cora", roles=frozenset({Role.EXECUTIVE, Role.CROWN}))
    mine = await submit(runtime, restoring(backup_id, requested_by="cora"), cora)
    assert mine.status is S.AWAITING_APPROVAL
    with pytest.raises(Forbidden, match=r"requested .* and cannot approve it"):
        await consent(runtime, mine, cora, Authority.CROWN)
    assert (await load(runtime, mine.operation_id)).approvals == []


async def test_one_principal_holding_both_roles_gives_one_consent(
    runtime: Runtime, shop_url: str
) -> None:
    backup_id = await backed_up(runtime)
    now = await changed_shop(shop_url)
    op = await submit(runtime, restoring(backup_id))
    op = await consent(runtime, op, BOTH, Authority.LEGISLATIVE)
    with pytest.raises(Conflict, match="already approved this plan"):
        await consent(runtime, op, BOTH, Authority.CROWN)
    await drive(runtime)
    assert (await load(runtime, op.operation_id)).status is S.AWAITING_APPROVAL
    assert await orders(shop_url) == now
    op = await consent(runtime, op, EDWARD, Authority.CROWN)
    await drive(runtime)
    assert (await load(runtime, op.operation_id)).status is S.COMPLETED
    assert await orders(shop_url) == ORDERS


async def test_a_weakened_finding_does_not_start_a_restore_without_the_crown(
    runtime: Runtime, shop_url: str
) -> None:
    """The legislature's finding edited to need the legislature only: the executive refuses."""
    backup_id = await backed_up(runtime)
    now = await changed_shop(shop_url)
    op = await submit(runtime, restoring(backup_id))
    async with runtime.session() as session:
        row = await session.get(OperationRow, op.operation_id)
        assert row is not None and row.planning_result is not None
        row.planning_result = {**row.planning_result, "required_approvals": ["legislative"]}
        await session.commit()
    op = await consent(runtime, op, BOB, Authority.LEGISLATIVE)
    assert op.status is S.SCHEDULED
    await drive(runtime)
    refused = await load(runtime, op.operation_id)
    assert refused.status is S.FAILED
    assert "need an approval of this plan by crown" in (refused.status_reason or "")
    assert all(s.status == "pending" for s in refused.steps)  # not even the safety backup
    assert await orders(shop_url) == now

    # The gate itself, on the edge: no approvals given, no start.
    async with runtime.session() as session:
        row = await session.get(OperationRow, op.operation_id)
        assert row is not None
        row.status = S.SCHEDULED.value
        found = CriticalNeedsTheCrown().check(Attempt(row, "executive:test", existing=()))
        assert isinstance(found, Forbidden) and "legislative and crown" in found.message
        await session.rollback()


async def test_a_forged_field_grants_nothing(runtime: Runtime) -> None:
    backup_id = await backed_up(runtime)
    body = json.loads(restoring(backup_id).model_dump_json())
    with pytest.raises(ValidationError, match="approvals"):
        OperationRequest.model_validate({**body, "approvals": [{"authority": "crown"}]})
    body["steps"][1]["params"]["risk"] = "low"
    with pytest.raises(InvalidRequest, match="risk"):
        await submit(runtime, OperationRequest.model_validate(body))
    assert await nothing_stored_but_backups(runtime)


async def nothing_stored_but_backups(rt: Runtime) -> bool:
    async with rt.session(read_only=True) as session:
        procedures = (await session.scalars(select(OperationRow.procedure))).all()
    return all(p == "backup_database" for p in procedures)
