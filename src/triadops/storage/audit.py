"""Reads for verifying the stored state against the ledger: plain columns, keyset batches.

Verification compares every operation, step, approval and token with the ledger's replay,
so these queries read only the columns it compares, as tuples, never whole ORM objects;
JSON documents are read as text and decoded here (`_document`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ColumnElement, Text, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import (
    AlertGroupRow,
    ApprovalRow,
    CrownStateRow,
    NotificationRow,
    OperationRow,
    PrincipalRow,
    StepRow,
    TokenRow,
)


class StoredOperation(NamedTuple):
    """The columns of an operation that the ledger vouches for."""

    id: str
    status: str
    operation_type: str
    requested_by: str
    plan: Any
    plan_hash: str | None
    plan_author: str | None
    approved_plan_hash: str | None
    cancel_requested_by: str | None
    acknowledged_by: str | None
    acknowledgement_overdue: bool
    reviewed_by: str | None
    review_lessons: str | None
    review_note: str | None
    scheduled_time: datetime | None
    via: str | None


class StoredStep(NamedTuple):
    """The columns of a step that the ledger vouches for."""

    operation_id: str
    step_index: int
    action: str
    params: Any
    status: str


class StoredApproval(NamedTuple):
    """An approval as stored: who, under which authority, for which plan hash."""

    operation_id: str
    approver: str
    authority: str
    plan_hash: str


class StoredToken(NamedTuple):
    """A token as stored, its secret's hash included (never the secret)."""

    name: str
    principal: str
    roles: Any
    token_hash: str
    revoked: bool


class OperationBatch(NamedTuple):
    """A run of operations in id order, with the steps and approvals of the same id range.

    By range, not by the operations found, so rows whose operation is gone are seen too.
    """

    operations: list[StoredOperation]
    steps: list[StoredStep]
    approvals: list[StoredApproval]


_OPERATION_COLUMNS = (
    OperationRow.id,
    OperationRow.status,
    OperationRow.operation_type,
    OperationRow.requested_by,
    type_coerce(OperationRow.plan, Text),
    OperationRow.plan_hash,
    OperationRow.plan_author,
    OperationRow.approved_plan_hash,
    OperationRow.cancel_requested_by,
    OperationRow.acknowledged_by,
    OperationRow.acknowledgement_overdue,
    OperationRow.reviewed_by,
    OperationRow.review_lessons,
    OperationRow.review_note,
    OperationRow.scheduled_time,
    OperationRow.via,
)


async def read_snapshot(session: AsyncSession) -> None:
    """Make every later read of this transaction see one consistent state.

    Call it first, before any other statement of the transaction. PostgreSQL otherwise
    reads each statement at a new moment, and a ledger read before an operation moved
    would be compared with the operation read after. A SQLite read transaction is already
    one snapshot (WAL), taken at its first read.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


def _document(value: Any) -> Any:
    """Decode a JSON column read as text as ``json.loads`` would, by orjson when it can.

    orjson gives the same values for what it accepts (floats rounded alike) at a third of
    the cost; NaN, Infinity and ints wider than 64 bits it refuses, and json reads those.
    A value the driver already decoded (or SQLite kept as a number) is returned as it is.
    """
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def _in_range(column: Any, low: str | None, high: str | None) -> list[ColumnElement[bool]]:
    """Return the conditions `low < column <= high` (an absent bound is open)."""
    conditions: list[ColumnElement[bool]] = []
    if low is not None:
        conditions.append(column > low)
    if high is not None:
        conditions.append(column <= high)
    return conditions


async def iterate_operations(
    session: AsyncSession, *, batch: int = 500
) -> AsyncIterator[OperationBatch]:
    """Yield every operation in id order, with its steps and approvals, a batch at a time."""
    conn = await session.connection()  # Core rows in the session's transaction, no ORM
    low: str | None = None
    while True:
        stmt = select(*_OPERATION_COLUMNS).order_by(OperationRow.id).limit(batch)
        if low is not None:
            stmt = stmt.where(OperationRow.id > low)
        operations = [
            StoredOperation._make((*r[:4], _document(r[4]), *r[5:]))
            for r in (await conn.execute(stmt)).all()
        ]
        last = len(operations) < batch
        high = None if last else operations[-1].id
        steps_stmt = select(
            StepRow.operation_id,
            StepRow.index,
            StepRow.action,
            type_coerce(StepRow.params, Text),
            StepRow.status,
        ).order_by(StepRow.operation_id, StepRow.index)
        steps = await conn.execute(steps_stmt.where(*_in_range(StepRow.operation_id, low, high)))
        approvals_stmt = select(
            ApprovalRow.operation_id,
            ApprovalRow.approver,
            ApprovalRow.authority,
            ApprovalRow.plan_hash,
        ).order_by(ApprovalRow.operation_id, ApprovalRow.id)
        approvals = await conn.execute(
            approvals_stmt.where(*_in_range(ApprovalRow.operation_id, low, high))
        )
        yield OperationBatch(
            operations,
            [
                StoredStep(op, index, action, _document(params), status)
                for op, index, action, params, status in steps.all()
            ],
            [StoredApproval._make(r) for r in approvals.all()],
        )
        if last:
            return
        low = high


async def select_tokens(session: AsyncSession) -> list[StoredToken]:
    """Return every token, revoked ones included, by name."""
    stmt = select(
        TokenRow.name,
        TokenRow.principal,
        TokenRow.roles,
        TokenRow.token_hash,
        TokenRow.revoked_at,
    ).order_by(TokenRow.name)
    return [
        StoredToken(name, principal, roles, token_hash, revoked_at is not None)
        for name, principal, roles, token_hash, revoked_at in (await session.execute(stmt)).all()
    ]


class StoredPrincipal(NamedTuple):
    """A principal as stored: its name and kind."""

    name: str
    kind: str


async def select_principals(session: AsyncSession) -> list[StoredPrincipal]:
    """Return every principal, by name."""
    stmt = select(PrincipalRow.name, PrincipalRow.kind).order_by(PrincipalRow.name)
    return [StoredPrincipal._make(r) for r in (await session.execute(stmt)).all()]


async def select_freeze(session: AsyncSession) -> tuple[bool, str | None] | None:
    """Return the crown's stored (frozen, frozen_by), or None when the row is gone."""
    stmt = select(CrownStateRow.frozen, CrownStateRow.frozen_by).where(CrownStateRow.id == 1)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (bool(row[0]), row[1])


class StoredGroup(NamedTuple):
    """A notification group's key and when the dispatcher next looks at it."""

    key: str
    next_flush_at: datetime | None


class StoredDelivery(NamedTuple):
    """A delivery's columns that the ledger vouches for."""

    id: int
    channel: str
    status: str


async def select_groups(session: AsyncSession) -> list[StoredGroup]:
    """Return every notification group (there are as many as distinct label groups firing)."""
    stmt = select(AlertGroupRow.key, AlertGroupRow.next_flush_at).order_by(AlertGroupRow.key)
    return [StoredGroup._make(r) for r in (await session.execute(stmt)).all()]


async def iterate_deliveries(
    session: AsyncSession, *, batch: int = 500
) -> AsyncIterator[list[StoredDelivery]]:
    """Yield every delivery in id order, a batch at a time, as plain tuples."""
    conn = await session.connection()
    low: int | None = None
    while True:
        stmt = (
            select(NotificationRow.id, NotificationRow.channel, NotificationRow.status)
            .order_by(NotificationRow.id)
            .limit(batch)
        )
        if low is not None:
            stmt = stmt.where(NotificationRow.id > low)
        rows = [StoredDelivery._make(r) for r in (await conn.execute(stmt)).all()]
        if rows:
            yield rows
        if len(rows) < batch:
            return
        low = rows[-1].id
