"""API bearer tokens: issued once, stored as sha256, each with a name and roles."""

from __future__ import annotations

import hashlib
import secrets

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.crown import ledger
from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, InvalidRequest, NotFound, Unauthenticated
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.storage.tables import TokenRow

PREFIX = "triad_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, name: str, roles: list[Role], by: str
) -> tuple[TokenRow, str]:
    """Issue a token; the secret is returned here and never again."""
    if not roles:
        raise InvalidRequest("a token needs at least one role", field="role")
    existing = await session.execute(select(TokenRow).where(TokenRow.name == name))
    if existing.scalar_one_or_none() is not None:
        raise Conflict(f"a token named {name!r} already exists", field="name")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = TokenRow(
        name=name,
        token_hash=_digest(secret),
        roles=sorted(r.value for r in set(roles)),
        created_at=utcnow(),
    )
    session.add(row)
    granted: list[JsonValue] = [*row.roles]
    ledger.record(
        session, actor=by, event="token_created", details={"name": name, "roles": granted}
    )
    return row, secret


async def list_tokens(session: AsyncSession) -> list[TokenRow]:
    """Return every token, revoked ones included, oldest first."""
    return list((await session.execute(select(TokenRow).order_by(TokenRow.id))).scalars().all())


async def revoke_token(session: AsyncSession, *, name: str, by: str) -> TokenRow:
    """Revoke a token by name; it stops working at once."""
    row = (
        await session.execute(select(TokenRow).where(TokenRow.name == name))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no token named {name!r}", field="name")
    if row.revoked_at is not None:
        raise Conflict(f"token {name!r} is already revoked")
    row.revoked_at = utcnow()
    ledger.record(session, actor=by, event="token_revoked", details={"name": name})
    return row


async def authenticate(session: AsyncSession, token: str) -> Identity:
    """Return the identity a bearer token stands for, or raise Unauthenticated."""
    stmt = select(TokenRow).where(TokenRow.token_hash == _digest(token))
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("invalid or revoked token")
    return Identity(name=row.name, roles=frozenset(Role(r) for r in row.roles))
