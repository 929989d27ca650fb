"""Operation, step and approval queries, including claims with leases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from triadops.domain.enums import OperationStatus
from triadops.domain.errors import NotFound
from triadops.storage.tables import ApprovalRow, CrownStateRow, OperationRow, StepRow

CLAIMABLE = (
    # Reviewing: the rules accepted the plan and the planner agent is still to be consulted
    # (with model = "rules" nothing stays in review past its submission's transaction).
    OperationStatus.REVIEWING,
    OperationStatus.SCHEDULED,
    OperationStatus.EXECUTING,
    OperationStatus.VALIDATING,
    OperationStatus.ROLLING_BACK,
)
# While frozen, nothing moves forward; reviewing, measuring and undoing may finish.
CLAIMABLE_WHEN_FROZEN = (
    OperationStatus.REVIEWING,
    OperationStatus.VALIDATING,
    OperationStatus.ROLLING_BACK,
)


async def get_operation(
    session: AsyncSession, operation_id: str, *, for_update: bool = False
) -> OperationRow:
    """Return the operation row, or raise NotFound."""
    stmt = select(OperationRow).where(OperationRow.id == operation_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no operation {operation_id!r}", field="operation_id")
    return row


async def get_steps(session: AsyncSession, operation_id: str) -> list[StepRow]:
    """Return an operation's step rows in plan order."""
    stmt = select(StepRow).where(StepRow.operation_id == operation_id).order_by(StepRow.index)
    return list((await session.execute(stmt)).scalars().all())


async def delete_steps(session: AsyncSession, operation_id: str) -> None:
    """Drop an unexecuted plan's step rows (the plan is being replaced)."""
    for row in await get_steps(session, operation_id):
        await session.delete(row)


async def get_approvals(session: AsyncSession, operation_id: str) -> list[ApprovalRow]:
    """Return every approval ever given to the operation, oldest first."""
    stmt = select(ApprovalRow).where(ApprovalRow.operation_id == operation_id)
    return list((await session.execute(stmt.order_by(ApprovalRow.id))).scalars().all())


def _frozen() -> ScalarSelect[bool]:
    """The crown's freeze flag, read in the statement that depends on it."""
    return select(CrownStateRow.frozen).where(CrownStateRow.id == 1).scalar_subquery()


def _due(now: datetime, *, only: str | None = None) -> Select[str]:
    """Operations a worker may claim now: due, and not leased by a live worker.

    The freeze flag is read in the same statement: while the crown holds all forward work,
    only measuring and undoing may be claimed.
    """
    stmt = select(OperationRow.id)
    if only is not None:
        stmt = stmt.where(OperationRow.id == only)
    return stmt.where(
        or_(
            OperationRow.status.in_([s.value for s in CLAIMABLE_WHEN_FROZEN]),
            and_(
                OperationRow.status.in_([s.value for s in CLAIMABLE]),
                _frozen().is_not(True),
            ),
        ),
        or_(OperationRow.lease_owner.is_(None), OperationRow.lease_expires_at < now),
        or_(
            OperationRow.status != OperationStatus.SCHEDULED.value,
            OperationRow.scheduled_time.is_(None),
            OperationRow.scheduled_time <= now,
        ),
    )


def is_emergency() -> ColumnElement[bool]:
    """Emergencies under the crown: the operations that owe it an acknowledgement."""
    return OperationRow.acknowledgement_deadline.is_not(None)


async def any_due(
    session: AsyncSession, *, now: datetime, only: str | None = None, emergencies_only: bool = False
) -> bool:
    """True when at least one operation (or the one named; or emergency) could be claimed now."""
    due = _due(now, only=only)
    if emergencies_only:
        due = due.where(is_emergency())
    found = await session.execute(due.limit(1))
    return found.first() is not None


async def house_work_due(session: AsyncSession, *, now: datetime) -> bool:
    """True when an approval deadline or an acknowledgement deadline passed unanswered."""
    approvals = (
        select(OperationRow.id)
        .where(
            OperationRow.status == OperationStatus.AWAITING_APPROVAL.value,
            OperationRow.approval_deadline < now,
        )
        .limit(1)
    )
    if (await session.execute(approvals)).first() is not None:
        return True
    acknowledgements = (
        select(OperationRow.id)
        .where(
            OperationRow.acknowledgement_deadline < now,
            OperationRow.acknowledged_by.is_(None),
            OperationRow.acknowledgement_overdue.is_(False),
        )
        .limit(1)
    )
    return (await session.execute(acknowledgements)).first() is not None


async def claim_operations(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease_s: float,
    limit: int,
    only: str | None = None,
    emergencies_only: bool = False,
) -> list[OperationRow]:
    """Lease up to `limit` operations that are due and not leased by a live worker.

    PostgreSQL skips rows other workers are claiming (FOR UPDATE SKIP LOCKED), so two
    workers never lease the same operation; SQLite has one writer at a time anyway.
    With `emergencies_only`, only emergencies under the crown are leased.
    """
    due = _due(now, only=only)
    if emergencies_only:
        due = due.where(is_emergency())
    due = due.order_by(OperationRow.created_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(OperationRow)
        .where(OperationRow.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s))
        .returning(OperationRow)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars().all())


@dataclass(frozen=True, slots=True)
class Lease:
    """A renewed lease, with the operation's stored state and what others asked of it."""

    status: str
    plan_hash: str | None
    cancel_requested_by: str | None
    frozen: bool
    """Whether the crown held forward work when the lease was renewed."""


async def renew_leases(
    session: AsyncSession,
    operation_ids: Sequence[str],
    *,
    owner: str,
    now: datetime,
    until: datetime,
) -> dict[str, Lease]:
    """Extend the leases we still hold, in one statement; the others are absent.

    A lease that expired is not ours any more, even if nobody claimed the operation yet:
    a cancel or an amendment may have been accepted meanwhile. The statement that renews
    is the gate, and the row stays locked (PostgreSQL) or the database write-locked
    (SQLite) until this transaction commits, so the check holds for every write after it.
    """
    if not operation_ids:
        return {}
    stmt = (
        update(OperationRow)
        .where(
            OperationRow.id.in_(set(operation_ids)),
            OperationRow.lease_owner == owner,
            OperationRow.lease_expires_at >= now,
        )
        .values(lease_expires_at=until)
        .returning(
            OperationRow.id,
            OperationRow.status,
            OperationRow.plan_hash,
            OperationRow.cancel_requested_by,
            _frozen().label("frozen"),
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    return {
        r.id: Lease(
            status=r.status,
            plan_hash=r.plan_hash,
            cancel_requested_by=r.cancel_requested_by,
            frozen=bool(r.frozen),
        )
        for r in rows
    }


async def cancel_requests(session: AsyncSession, operation_ids: Sequence[str]) -> dict[str, str]:
    """Return who asked to cancel each of these operations, for those where someone did."""
    if not operation_ids:
        return {}
    stmt = select(OperationRow.id, OperationRow.cancel_requested_by).where(
        OperationRow.id.in_(set(operation_ids)), OperationRow.cancel_requested_by.is_not(None)
    )
    return {r.id: r.cancel_requested_by for r in (await session.execute(stmt)).all()}


async def get_steps_of(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[StepRow]]:
    """Return the step rows of several operations, by operation id, in plan order."""
    stmt = select(StepRow).where(StepRow.operation_id.in_(ids)).order_by(StepRow.index)
    found: dict[str, list[StepRow]] = {i: [] for i in ids}
    for row in (await session.execute(stmt)).scalars():
        found[row.operation_id].append(row)
    return found


async def get_approvals_of(
    session: AsyncSession, ids: Sequence[str]
) -> dict[str, list[ApprovalRow]]:
    """Return the approvals of several operations, by operation id."""
    stmt = select(ApprovalRow).where(ApprovalRow.operation_id.in_(ids)).order_by(ApprovalRow.id)
    found: dict[str, list[ApprovalRow]] = {i: [] for i in ids}
    for row in (await session.execute(stmt)).scalars():
        found[row.operation_id].append(row)
    return found


def is_leased(row: OperationRow, now: datetime) -> bool:
    """True while a worker holds a live lease on the operation."""
    return row.lease_owner is not None and (
        row.lease_expires_at is None or row.lease_expires_at >= now
    )


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """Count operations per status."""
    stmt = select(OperationRow.status, func.count()).group_by(OperationRow.status)
    return {status: int(n) for status, n in (await session.execute(stmt)).all()}


async def recent_failures(session: AsyncSession, *, procedure: str, since: datetime) -> int:
    """Count operations of a procedure that failed or were rolled back since `since`."""
    bad = [OperationStatus.FAILED.value, OperationStatus.ROLLED_BACK.value]
    stmt = select(func.count()).where(
        OperationRow.procedure == procedure,
        OperationRow.status.in_(bad),
        OperationRow.updated_at >= since,
    )
    return int((await session.execute(stmt)).scalar_one())


async def expired_approvals(session: AsyncSession, *, now: datetime) -> list[OperationRow]:
    """Return operations whose approval deadline passed unanswered."""
    stmt = select(OperationRow).where(
        OperationRow.status == OperationStatus.AWAITING_APPROVAL.value,
        OperationRow.approval_deadline < now,
    )
    return list((await session.execute(stmt)).scalars().all())


async def overdue_acknowledgements(session: AsyncSession, *, now: datetime) -> list[OperationRow]:
    """Return emergencies whose acknowledgement deadline passed without one."""
    stmt = select(OperationRow).where(
        and_(
            OperationRow.acknowledgement_deadline < now,
            OperationRow.acknowledged_by.is_(None),
            OperationRow.acknowledgement_overdue.is_(False),
        )
    )
    return list((await session.execute(stmt)).scalars().all())


async def crown_state(session: AsyncSession) -> CrownStateRow:
    """Return the crown's switches (one row, created by the first migration)."""
    return (await session.execute(select(CrownStateRow).where(CrownStateRow.id == 1))).scalar_one()


async def scheduled_or_running(session: AsyncSession) -> Sequence[OperationRow]:
    """The operations queued or executing: those a new one could collide with."""
    states = (OperationStatus.SCHEDULED.value, OperationStatus.EXECUTING.value)
    found = await session.execute(select(OperationRow).where(OperationRow.status.in_(states)))
    return found.scalars().all()


async def save_step_progress(
    engine: AsyncEngine, operation_id: str, index: int, progress: dict[str, Any]
) -> None:
    """Store a running step's progress in one short transaction of its own.

    Never call it inside another transaction: it is telemetry written beside the step's
    work (no ledger entry; ``triad audit verify`` does not compare it).
    """
    async with engine.begin() as conn:
        await conn.execute(
            update(StepRow)
            .where(StepRow.operation_id == operation_id, StepRow.index == index)
            .values(progress=progress)
        )
