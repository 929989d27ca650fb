"""Principals and their API bearer tokens: issued once, stored as sha256, each with roles.

A token is a credential of one principal. Creating a principal, issuing and revoking a
token are crown ledger events that carry what ``triad audit verify`` needs to prove the
tokens table: the token's name, principal, roles and a fingerprint of its hash.
"""

from __future__ import annotations

import hashlib
import secrets

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.enums import Role
from triadops.domain.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    TriadError,
    Unauthenticated,
)
from triadops.domain.events import PrincipalCreated, TokenCreated, TokenRevoked, fingerprint
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.domain.principals import (
    NEW_PATTERN,
    PrincipalKind,
    new_principal_problem,
    normalise_principal,
)
from triadops.domain.rules import Rule, RuleBook
from triadops.storage import tokens as store
from triadops.storage.tables import PrincipalRow, TokenRow

PREFIX = "triad_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _name(raw: str, field: str) -> str:
    try:
        return normalise_principal(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{field}: {exc}", field=field) from None


async def ensure_principal(
    session: AsyncSession, name: str, *, kind: PrincipalKind, by: str, field: str = "principal"
) -> PrincipalRow:
    """Return the principal called `name`, creating it (a ledger event) if it is new.

    Only a new name is held to the rules for new names (a principal from an older release
    that is now reserved keeps working); `field` is what a refusal names.
    """
    row = await session.get(PrincipalRow, name)
    if row is not None:
        return row
    problem = new_principal_problem(name, await store.principal_names(session))
    if problem is not None:
        raise InvalidRequest(f"{field}: {problem}", field=field)
    row = PrincipalRow(name=name, kind=kind.value, created_at=utcnow())
    session.add(row)
    ledger.record(session, PrincipalCreated(name=name, principal_kind=kind.value), actor=by)
    return row


async def create_token(
    session: AsyncSession,
    *,
    name: str,
    roles: list[Role],
    by: str,
    principal: str | None = None,
    kind: PrincipalKind = PrincipalKind.PERSON,
) -> tuple[TokenRow, str]:
    """Issue a token to a principal (default: the one named like the token).

    The secret is returned here and never again. Names are normalised, so ``Alice`` and
    ``alice `` are the same principal; names of triadops' own actors are refused.
    """
    token_name = _name(name, "name")
    owner = _name(principal, "principal") if principal is not None else token_name
    if not roles:
        raise InvalidRequest("a token needs at least one role", field="role")
    if await store.token_named(session, token_name) is not None:
        raise Conflict(f"a token named {token_name!r} already exists", field="name")
    if not NEW_PATTERN.fullmatch(token_name):
        raise InvalidRequest(
            f"name: {token_name!r} cannot be a new token's name: use letters and digits "
            "joined by single '.', '_', '@' or '-', with none at the start or end",
            field="name",
        )
    await ensure_principal(
        session, owner, kind=kind, by=by, field="principal" if principal is not None else "name"
    )
    secret = PREFIX + secrets.token_urlsafe(32)
    row = TokenRow(
        name=token_name,
        principal=owner,
        token_hash=_digest(secret),
        roles=sorted(r.value for r in set(roles)),
        created_at=utcnow(),
    )
    session.add(row)
    granted: list[JsonValue] = [*row.roles]
    ledger.record(
        session,
        TokenCreated(
            name=token_name,
            principal=owner,
            roles=granted,
            fingerprint=fingerprint(row.token_hash),
        ),
        actor=by,
    )
    return row, secret


async def list_tokens(session: AsyncSession) -> list[TokenRow]:
    """Return every token, revoked ones included, oldest first."""
    return await store.all_tokens(session)


class NotYetRevoked(Rule[bool, TokenRow]):
    """A revocation is recorded once: a second would hide when the token stopped working."""

    to_states = frozenset({True})
    reason = "a token is revoked once; a second revocation would hide when it stopped working"

    def check(self, attempt: TokenRow) -> TriadError | None:
        if attempt.revoked_at is None:
            return None
        return Conflict(f"token {attempt.name!r} is already revoked")


REVOCATION: RuleBook[bool, TokenRow] = RuleBook(
    "token", {False: frozenset({True})}, [NotYetRevoked]
)
"""A token's life: working (False), then revoked (True) for good."""


async def revoke_token(session: AsyncSession, *, name: str, by: str) -> TokenRow:
    """Revoke a token by name; it stops working at once."""
    token_name = _name(name, "name")
    row = await store.token_named(session, token_name)
    if row is None:
        raise NotFound(f"no token named {token_name!r}", field="name")
    REVOCATION.screen(row.revoked_at is not None, True, row)
    row.revoked_at = utcnow()
    ledger.record(session, TokenRevoked(name=token_name), actor=by)
    return row


async def authenticate(session: AsyncSession, token: str) -> Identity:
    """Return the principal a bearer token stands for, with its roles, or raise Unauthenticated."""
    if not token.startswith(PREFIX) or len(token) > 200:
        raise Unauthenticated("invalid or revoked token")
    row = await store.token_with_hash(session, _digest(token))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("invalid or revoked token")
    return Identity(name=row.principal, roles=frozenset(Role(r) for r in row.roles), token=row.name)
