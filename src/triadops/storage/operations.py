"""Operation, step and approval queries, including claims with leases."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    and_,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import OperationStatus, OperationType
from triadops.domain.errors import InvalidRequest, NotFound
from triadops.storage.tables import ApprovalRow, CrownStateRow, OperationRow, StepRow

CLAIMABLE = (
    OperationStatus.SCHEDULED,
    OperationStatus.EXECUTING,
    OperationStatus.VALIDATING,
    OperationStatus.ROLLING_BACK,
)
# While frozen, nothing moves forward; measuring and undoing may finish.
CLAIMABLE_WHEN_FROZEN = (OperationStatus.VALIDATING, OperationStatus.ROLLING_BACK)


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


Position = tuple[datetime, str]
"""Where a page of a listing ended: its last row's ``created_at`` and ``id``."""


class ListingFilters(TypedDict):
    """What a listing keeps, as `list_operations` and the cursor functions take it."""

    statuses: Sequence[OperationStatus]
    types: Sequence[OperationType]
    since: datetime | None


async def list_operations(
    session: AsyncSession,
    *,
    statuses: Sequence[OperationStatus] = (),
    types: Sequence[OperationType] = (),
    since: datetime | None = None,
    after: Position | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[OperationRow]:
    """Return operations, newest first (ties by id), filtered, from `offset` or after `after`.

    Every listing walks an index: (status, created_at) for a state, (operation_type,
    created_at) for a type, (created_at) otherwise. With several states (or, with no state,
    several types) each one's newest rows come from its own walk and are merged, so no
    listing sorts a whole history. `after` (keyset paging) starts each walk where the last
    page ended, so a page costs the same however much history lies before it.
    """
    newest = (OperationRow.created_at.desc(), OperationRow.id)
    window = _window(since, after)
    walks = _walks(statuses, types)
    if len(walks) == 1:
        stmt = select(OperationRow).where(*walks[0], *window).order_by(*newest)
        stmt = stmt.limit(limit).offset(offset)
        return list((await session.execute(stmt)).scalars().all())
    ids = union_all(
        *(
            select(OperationRow.id, OperationRow.created_at)
            .where(*walk, *window)
            .order_by(*newest)
            .limit(limit + offset)
            .subquery()
            .select()
            for walk in walks
        )
    ).subquery()
    page = select(ids.c.id).order_by(ids.c.created_at.desc(), ids.c.id).limit(limit).offset(offset)
    chosen = [row.id for row in (await session.execute(page)).all()]
    if not chosen:
        return []
    rows = await session.execute(select(OperationRow).where(OperationRow.id.in_(chosen)))
    by_id = {row.id: row for row in rows.scalars()}
    return [by_id[i] for i in chosen]


def _walks(
    statuses: Sequence[OperationStatus], types: Sequence[OperationType]
) -> list[list[ColumnElement[bool]]]:
    """Return each index walk's filters: one walk per state, else one per type, else one."""
    states = [s.value for s in dict.fromkeys(statuses)]
    kinds = [t.value for t in dict.fromkeys(types)]
    if states:
        of_kind = [OperationRow.operation_type.in_(kinds)] if kinds else []
        return [[OperationRow.status == state, *of_kind] for state in states]
    if kinds:
        return [[OperationRow.operation_type == kind] for kind in kinds]
    return [[]]


def _window(since: datetime | None, after: Position | None) -> list[ColumnElement[bool]]:
    """Return the range on created_at: from `since`, and past `after` in listing order."""
    created_at = OperationRow.created_at
    terms = [] if since is None else [created_at >= since]
    if after is not None:
        at, last_id = after
        # created_at < at OR (created_at = at AND id > last_id), with created_at <= at
        # stated on its own so that every dialect bounds the index range by it.
        terms += [created_at <= at, or_(created_at < at, OperationRow.id > last_id)]
    return terms


_CURSOR_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_CURSOR_LENGTH = 400
"""The longest cursor token accepted; those issued stay under 200 characters."""


def listing_cursor(
    row: OperationRow,
    *,
    statuses: Sequence[OperationStatus] = (),
    types: Sequence[OperationType] = (),
    since: datetime | None = None,
) -> str:
    """Return the opaque token that continues a listing under these filters after `row`."""
    body = json.dumps(
        [_CURSOR_VERSION, _micros(row.created_at), row.id, _filters(statuses, types, since)],
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(_check(body) + body).rstrip(b"=").decode()


def cursor_position(
    token: str,
    *,
    statuses: Sequence[OperationStatus] = (),
    types: Sequence[OperationType] = (),
    since: datetime | None = None,
) -> Position:
    """Return the position `token` continues from, or raise InvalidRequest (``cursor``).

    The token is refused when it does not decode, its check bytes do not match (it was cut
    or edited), or it was made for other filters. The check is a plain digest, not a
    signature: a forged position only moves the start of a listing the caller may read
    anyway, and it is bound-checked here before it reaches SQL.
    """
    try:
        if len(token) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        check, body = raw[:8], raw[8:]
        if check != _check(body):
            raise ValueError("check bytes differ")
        version, micros, last_id, filters = json.loads(body)
        if version != _CURSOR_VERSION or not isinstance(micros, int) or isinstance(micros, bool):
            raise ValueError("not a version 1 cursor")
        if not isinstance(last_id, str) or not _ID.fullmatch(last_id):
            raise ValueError("not an operation id")
        at = _EPOCH + timedelta(microseconds=micros)
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise InvalidRequest(
            "cursor: not a cursor a listing gave out (damaged or edited); start without one",
            field="cursor",
        ) from None
    if filters != _filters(statuses, types, since):
        raise InvalidRequest(
            "cursor: made for other filters (status, operation_type, since); repeat the "
            "filters of the listing that gave it, or start without one",
            field="cursor",
        )
    return at, last_id


def _micros(at: datetime) -> int:
    """Return microseconds since the epoch (a naive time counts as UTC, as stored)."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return (aware - _EPOCH) // timedelta(microseconds=1)


def _filters(
    statuses: Sequence[OperationStatus], types: Sequence[OperationType], since: datetime | None
) -> str:
    """Return a digest of the filters, whatever their order and repetitions."""
    chosen = [
        sorted({s.value for s in statuses}),
        sorted({t.value for t in types}),
        None if since is None else _micros(since),
    ]
    text = json.dumps(chosen, separators=(",", ":")).encode()
    return hashlib.blake2b(text, digest_size=8, person=b"triad.filters").hexdigest()


def _check(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=8, person=b"triad.cursor").digest()


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


async def any_due(session: AsyncSession, *, now: datetime, only: str | None = None) -> bool:
    """True when at least one operation (or the one named) could be claimed now."""
    found = await session.execute(_due(now, only=only).limit(1))
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
) -> list[OperationRow]:
    """Lease up to `limit` operations that are due and not leased by a live worker.

    PostgreSQL skips rows other workers are claiming (FOR UPDATE SKIP LOCKED), so two
    workers never lease the same operation; SQLite has one writer at a time anyway.
    """
    due = _due(now, only=only).order_by(OperationRow.created_at).limit(limit)
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
