"""Console sign-in: a token exchanged for a server-side session behind an HttpOnly cookie.

The session's secret id lives only in the cookie; the database keeps its sha256, the
token's name and an end. Each request finds the token again by name, so revoking the token
ends every session made from it at its next request. The form's CSRF token is derived from
the secret id (an HMAC), so it is per session and a page of another session cannot forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import authenticate
from triadops.domain.clock import utcnow
from triadops.domain.enums import Role
from triadops.domain.errors import Forbidden, Unauthenticated
from triadops.domain.identity import Identity
from triadops.runtime import Runtime
from triadops.storage import console_sessions as store
from triadops.storage.tokens import token_named

SECURE_COOKIE = "__Host-triad_console"
"""The cookie's name where the browser can hold it Secure (https, or a loopback address)."""
PLAIN_COOKIE = "triad_console"
"""Its name over plain http to another host, where a ``__Host-`` cookie cannot be set."""
LIFETIME = timedelta(hours=8)
"""How long a sign-in lasts; the token's revocation ends it sooner."""


@dataclass(frozen=True)
class Signed:
    """A request's signed-in identity and the secret its CSRF token derives from."""

    identity: Identity
    secret: str

    @property
    def csrf(self) -> str:
        """The token every form of this session carries."""
        return csrf_token(self.secret)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(secret: str) -> str:
    """Return the CSRF token of the session whose secret id is `secret`."""
    return hmac.new(secret.encode(), b"triad.console.csrf", hashlib.sha256).hexdigest()


def is_secure(request: Request) -> bool:
    """True when the browser keeps a Secure cookie here: https, or a loopback host."""
    if request.url.scheme == "https":
        return True
    host = request.url.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cookie_name(request: Request) -> str:
    """Return the session cookie's name for this request's origin."""
    return SECURE_COOKIE if is_secure(request) else PLAIN_COOKIE


async def sign_in(runtime: Runtime, token: str) -> tuple[Identity, str]:
    """Authenticate `token` as the API does and open a session; return it and its secret."""
    now = utcnow()
    secret = secrets.token_urlsafe(32)
    async with runtime.session() as session:
        identity = await authenticate(session, token)
        assert identity.token is not None  # a bearer token always names itself
        await store.end_expired(session, now=now)
        store.add_session(
            session,
            id_hash=_digest(secret),
            token_name=identity.token,
            now=now,
            expires_at=now + LIFETIME,
        )
        await lifecycle.commit(session)
    return identity, secret


def set_cookie(request: Request, response: Response, secret: str) -> None:
    """Give the browser the session cookie: HttpOnly, SameSite=Strict, Path=/."""
    response.set_cookie(
        cookie_name(request),
        secret,
        max_age=int(LIFETIME.total_seconds()),
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="strict",
    )


def clear_cookie(request: Request, response: Response) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(
        cookie_name(request), path="/", secure=is_secure(request), httponly=True, samesite="strict"
    )


async def signed_in(runtime: Runtime, request: Request) -> Signed:
    """Return who this request's session stands for, or raise Unauthenticated."""
    secret = request.cookies.get(cookie_name(request))
    if not secret or len(secret) > 100:
        raise Unauthenticated("sign in first")
    async with runtime.session(read_only=True) as session:
        identity = await _identity(session, _digest(secret))
    return Signed(identity=identity, secret=secret)


async def _identity(session: AsyncSession, id_hash: str) -> Identity:
    row = await store.session_with_hash(session, id_hash)
    if row is None or row.expires_at <= utcnow():
        raise Unauthenticated("your session ended; sign in again")
    token = await token_named(session, row.token_name)
    if token is None or token.revoked_at is not None:
        raise Unauthenticated("the token of this session was revoked; sign in again")
    return Identity(
        name=token.principal, roles=frozenset(Role(r) for r in token.roles), token=token.name
    )


async def sign_out(runtime: Runtime, request: Request) -> None:
    """End this request's session, if it has one."""
    secret = request.cookies.get(cookie_name(request))
    if not secret:
        return
    async with runtime.session() as session:
        await store.end_session(session, _digest(secret))
        await lifecycle.commit(session)


def check_csrf(signed: Signed, sent: str | None) -> None:
    """Refuse (Forbidden) a form whose CSRF token is not this session's."""
    if not sent or not hmac.compare_digest(sent, signed.csrf):
        raise Forbidden(
            "this form did not come from your session's page (CSRF token missing or wrong)"
        )


async def confirm_token(runtime: Runtime, signed: Signed, token: str | None) -> None:
    """Refuse (Forbidden) unless `token` is valid again and the signed-in principal's."""
    if not token:
        raise Forbidden("a critical-risk approval asks for your token again")
    try:
        async with runtime.session(read_only=True) as session:
            again = await authenticate(session, token)
    except Unauthenticated:
        raise Forbidden("the token given again is invalid or revoked") from None
    if again.name != signed.identity.name:
        raise Forbidden("the token given again is not the signed-in principal's")


def require(signed: Signed, *roles: Role) -> None:
    """Refuse (Forbidden) unless the session holds one of `roles`: the API's coarse gate.

    The services still check the exact power (separation of duties, the authority used).
    """
    if not any(role in signed.identity.roles for role in roles):
        names = " or ".join(r.value for r in roles)
        raise Forbidden(f"{signed.identity.name} holds none of the roles this needs: {names}")
