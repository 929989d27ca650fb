"""The tools' one interface (`Tools`), who calls them, and the assistant's name.

`Tools` is what every tool asks of its backend: `local.LocalTools` opens the database and
calls the services the API's routes call; `remote.RemoteTools` calls a server's API with
the token, opening no database. The tools (`reads`, `changes`) never know which.

Locally, the caller is the token's principal, found exactly as the API finds it
(`crown.tokens.authenticate`), on every call: a token revoked while an assistant is
connected stops working at its next call. Over stdio the token is the process's
``TRIAD_TOKEN``; over HTTP it is the request's ``Authorization: Bearer`` header, checked
before the MCP layer sees the request (`mcp.http.BearerGuard`). The assistant's own name
(the MCP ``clientInfo.name``) is recorded beside the principal, never instead of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mcp.server.mcpserver import Context
from pydantic import ValidationError

from triadops.actions.procedures.model import Procedure
from triadops.actions.procedures.views import ProcedureDetail, ProcedureLine
from triadops.actions.registry import ActionRegistry
from triadops.constitution.crown.tokens import authenticate
from triadops.domain.alert_views import Alert
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import OperationStatus, OperationType, Role
from triadops.domain.errors import Unauthenticated
from triadops.domain.health import HealthReport
from triadops.domain.identity import Identity
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import OperationRequest, StepSpec
from triadops.mcp.models import Cancelled, OperationRecord
from triadops.runtime import Runtime

RequestFor = Callable[[Identity], OperationRequest]
"""Builds a tool's request once the caller is known (its name is the requester)."""

IDENTITY_SCOPE = "triadops.identity"
"""Key of the ASGI scope under which `BearerGuard` leaves the identity its token proved."""

OPERATORS = (Role.LEGISLATIVE, Role.EXECUTIVE, Role.JUDICIAL, Role.CROWN)
"""Roles that may ask for a change, as the API's ``Operator``; a viewer only reads."""

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True)
class Catalogue:
    """What the tools are built from: procedures (a tool each), actions (the annotations)."""

    actions: ActionRegistry
    procedures: Sequence[Procedure]


class Tools(Protocol):
    """What every tool asks of its backend, as the caller's principal.

    Each method answers the domain's models or raises ``ToolError`` with one line: a
    refusal, bad input or a missing thing, worded as the gate that refused it said.
    """

    @property
    def catalogue(self) -> Catalogue:
        """The procedures and actions the tools are built from."""
        ...

    async def list_procedures(self, ctx: Context) -> list[ProcedureLine]:
        """List the procedures, by name."""
        ...

    async def read_procedure(self, ctx: Context, name: str) -> ProcedureDetail:
        """Show one procedure in full."""
        ...

    async def read_health(self, ctx: Context) -> HealthReport:
        """Return the newest stored health report, or one checked now."""
        ...

    async def list_alerts(
        self,
        ctx: Context,
        *,
        states: Sequence[AlertState],
        severities: Sequence[Severity],
        limit: int,
    ) -> list[Alert]:
        """List alerts, newest first."""
        ...

    async def list_operations(
        self,
        ctx: Context,
        *,
        statuses: Sequence[OperationStatus],
        types: Sequence[OperationType],
        limit: int,
    ) -> list[OperationSummary]:
        """List operations, newest first."""
        ...

    async def read_operation(self, ctx: Context, operation_id: str) -> OperationRecord:
        """Read one operation with its timeline."""
        ...

    async def submit(self, ctx: Context, request_for: RequestFor) -> OperationRecord:
        """Submit the caller's request for review, naming the assistant beside the caller."""
        ...

    async def amend(
        self, ctx: Context, operation_id: str, steps: list[StepSpec]
    ) -> OperationRecord:
        """Replace the steps of the caller's operation before it runs."""
        ...

    async def cancel(self, ctx: Context, operation_id: str, reason: str | None) -> Cancelled:
        """Cancel the caller's operation (or any, with the crown's role)."""
        ...


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


def describe(exc: ValidationError) -> str:
    """Name the first invalid field and why, on one line."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "input"
    return f"{where}: {first['msg']}"
