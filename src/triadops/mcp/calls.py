"""Who calls a tool, and how a call meets the same gates as an API request.

The caller is the token's principal, found exactly as the API finds it
(`crown.tokens.authenticate`), on every call: a token revoked while an assistant is
connected stops working at its next call. Over stdio the token is the process's
``TRIAD_TOKEN``; over HTTP it is the request's ``Authorization: Bearer`` header, checked
before the MCP layer sees the request (`mcp.http.BearerGuard`). The assistant's own name
(the MCP ``clientInfo.name``) is recorded beside the principal, never instead of it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from triadops.constitution import lifecycle
from triadops.constitution.crown.service import record_refusal
from triadops.constitution.crown.tokens import authenticate
from triadops.domain.enums import Role
from triadops.domain.errors import Forbidden, TriadError, Unauthenticated
from triadops.domain.identity import Identity
from triadops.runtime import Runtime

T = TypeVar("T")

IDENTITY_SCOPE = "triadops.identity"
"""Key of the ASGI scope under which `BearerGuard` leaves the identity its token proved."""

OPERATORS = (Role.LEGISLATIVE, Role.EXECUTIVE, Role.JUDICIAL, Role.CROWN)
"""Roles that may ask for a change, as the API's ``Operator``; a viewer only reads."""

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class Caller(Protocol):
    """Finds who a tool call comes from."""

    async def identity(self, runtime: Runtime, ctx: Context) -> Identity:
        """Return the call's principal, or raise Unauthenticated."""
        ...


@dataclass(frozen=True)
class TokenCaller:
    """Over stdio: every call is the process's token (``TRIAD_TOKEN``)."""

    token: str

    async def identity(self, runtime: Runtime, ctx: Context) -> Identity:
        """Authenticate the token, again on each call."""
        async with runtime.session(read_only=True) as session:
            return await authenticate(session, self.token)


class RequestCaller:
    """Over HTTP: the identity the request's own bearer token proved (`BearerGuard`)."""

    async def identity(self, runtime: Runtime, ctx: Context) -> Identity:
        """Read the identity left on this HTTP request's scope; none is Unauthenticated."""
        request = ctx.request_context.request
        scope: dict[str, Any] = getattr(request, "scope", None) or {}
        found = scope.get(IDENTITY_SCOPE)
        if not isinstance(found, Identity):
            raise Unauthenticated("an 'Authorization: Bearer <token>' header is required")
        return found


def client_name(ctx: Context) -> str:
    """Return ``mcp:<the assistant's clientInfo.name>``, printable, at most 100 characters.

    The name is the client's say about itself: it is recorded as what it claims to be,
    never weighed by a gate.
    """
    params = ctx.session.client_params
    name = params.client_info.name if params is not None else ""
    cleaned = _UNPRINTABLE.sub("?", name.strip())[:96] or "unnamed"
    return f"mcp:{cleaned}"


@dataclass(frozen=True)
class Tools:
    """What every tool needs: the runtime and the way to find its caller."""

    runtime: Runtime
    caller: Caller

    async def reading(self, ctx: Context, work: Callable[[Identity], Awaitable[T]]) -> T:
        """Run a read as the caller; any valid token may read (the viewer's role included)."""
        return await self._answer(ctx, "read", work, operator=False)

    async def changing(
        self,
        ctx: Context,
        action: str,
        work: Callable[[Identity], Awaitable[T]],
        *,
        operation_id: str | None = None,
    ) -> T:
        """Run a change as the caller: one of the four authorities, as the API's Operator.

        A refusal is put on the ledger's record, as the API and the CLI do, then answered
        as a tool error.
        """
        return await self._answer(ctx, action, work, operator=True, operation_id=operation_id)

    async def _answer(
        self,
        ctx: Context,
        action: str,
        work: Callable[[Identity], Awaitable[T]],
        *,
        operator: bool,
        operation_id: str | None = None,
    ) -> T:
        identity: Identity | None = None
        try:
            identity = await self.caller.identity(self.runtime, ctx)
            if operator and not any(role in identity.roles for role in OPERATORS):
                names = " or ".join(r.value for r in OPERATORS)
                raise Forbidden(f"{identity.name} holds none of the roles this needs: {names}")
            return await work(identity)
        except Forbidden as exc:
            if operator and identity is not None:
                await self._record(identity, action, exc, operation_id)
            raise ToolError(f"refused: {exc.message}") from None
        except TriadError as exc:
            raise ToolError(f"{exc.title.lower()}: {exc.message}") from None
        except ValidationError as exc:
            raise ToolError(f"invalid input: {describe(exc)}") from None

    async def _record(
        self, identity: Identity, action: str, exc: Forbidden, operation_id: str | None
    ) -> None:
        async with self.runtime.session() as session:
            record_refusal(
                session,
                actor=identity.name,
                action=f"mcp {action}",
                reason=exc.message,
                operation_id=operation_id,
            )
            await lifecycle.commit(session)


def describe(exc: ValidationError) -> str:
    """Name the first invalid field and why, on one line."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "input"
    return f"{where}: {first['msg']}"
