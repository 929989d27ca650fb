"""Token and principal queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import PrincipalRow, TokenRow


async def token_named(session: AsyncSession, name: str) -> TokenRow | None:
    """Return the token called `name`, revoked or not, or None."""
    return (
        await session.execute(select(TokenRow).where(TokenRow.name == name))
    ).scalar_one_or_none()


async def token_with_hash(session: AsyncSession, token_hash: str) -> TokenRow | None:
    """Return the token whose secret hashes to `token_hash`, or None."""
    stmt = select(TokenRow).where(TokenRow.token_hash == token_hash)
    return (await session.execute(stmt)).scalar_one_or_none()


async def all_tokens(session: AsyncSession) -> list[TokenRow]:
    """Return every token, revoked ones included, oldest first."""
    return list((await session.execute(select(TokenRow).order_by(TokenRow.id))).scalars().all())


async def principal_names(session: AsyncSession) -> list[str]:
    """Return every principal's name."""
    return list((await session.execute(select(PrincipalRow.name))).scalars().all())
