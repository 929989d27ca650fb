"""Listings of operations: filters, merged index walks, and cursors that keep a page's place."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from sqlalchemy import ColumnElement, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import OperationStatus, OperationType
from triadops.domain.errors import InvalidRequest
from triadops.storage.tables import OperationRow

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
    last: Position,
    *,
    statuses: Sequence[OperationStatus] = (),
    types: Sequence[OperationType] = (),
    since: datetime | None = None,
) -> str:
    """Return the opaque token that continues a listing under these filters after `last`."""
    return keyset_cursor(last, scope=_filters(statuses, types, since))


def cursor_position(
    token: str,
    *,
    statuses: Sequence[OperationStatus] = (),
    types: Sequence[OperationType] = (),
    since: datetime | None = None,
) -> Position:
    """Return the position `token` continues from, or raise InvalidRequest (``cursor``)."""
    return keyset_position(
        token,
        scope=_filters(statuses, types, since),
        filters="status, operation_type, since",
    )


def keyset_cursor(last: Position, *, scope: str) -> str:
    """Return the opaque token that continues a listing of `scope` (its filters) after `last`."""
    at, last_id = last
    body = json.dumps(
        [_CURSOR_VERSION, _micros(at), last_id, scope], separators=(",", ":")
    ).encode()
    return base64.urlsafe_b64encode(_check(body) + body).rstrip(b"=").decode()


def keyset_position(token: str, *, scope: str, filters: str) -> Position:
    """Return the position `token` continues from, or raise InvalidRequest (``cursor``).

    The token is refused when it does not decode, its check bytes do not match (it was cut
    or edited), or it was made for another listing or other filters (`scope`; `filters`
    names them in the message). The check is a plain digest, not a signature: a forged
    position only moves the start of a listing the caller may read anyway, and it is
    bound-checked here before it reaches SQL.
    """
    try:
        if len(token) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        check, body = raw[:8], raw[8:]
        if check != _check(body):
            raise ValueError("check bytes differ")
        version, micros, last_id, made_for = json.loads(body)
        if version != _CURSOR_VERSION or not isinstance(micros, int) or isinstance(micros, bool):
            raise ValueError("not a version 1 cursor")
        if not isinstance(last_id, str) or not _ID.fullmatch(last_id):
            raise ValueError("not an id")
        at = _EPOCH + timedelta(microseconds=micros)
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise InvalidRequest(
            "cursor: not a cursor a listing gave out (damaged or edited); start without one",
            field="cursor",
        ) from None
    if made_for != scope:
        raise InvalidRequest(
            f"cursor: made for other filters ({filters}); repeat the filters of the listing "
            "that gave it, or start without one",
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
