"""The tools on a remote server: its HTTP API, with the caller's token; no database here.

``triad mcp`` with ``TRIAD_URL`` (or a stored login) is a client like the rest of the CLI:
the server's gates decide, in the server's transactions, under the server's governance;
nothing this process has (its settings, its folder) can loosen them. Every call carries a
token: over stdio the process's (`FixedToken`), over HTTP the request's own bearer token
(`RequestToken`), passed through as it came. The assistant's name goes with a submission
as ``via``, which the server keeps beside the token's principal, never instead of it.

Every request has a timeout; an error the server answers becomes a tool error worded with
the server's own detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import TypeAdapter, ValidationError

from triadops import httpclient
from triadops.actions.builtin import builtin_actions
from triadops.actions.procedures.views import ProcedureDetail, ProcedureLine
from triadops.actions.registry import ActionRegistry, load_entry_point_actions
from triadops.domain.alert_views import Alert
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import OperationStatus, OperationType
from triadops.domain.errors import TriadError, Unauthenticated
from triadops.domain.health import HealthReport
from triadops.domain.identity import Identity
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import Operation, StepSpec
from triadops.mcp.calls import Catalogue, RequestFor, client_name, describe
from triadops.mcp.models import Cancelled, OperationRecord
from triadops.ops.backup.recovery import backup_actions

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""A slow server is a tool error after this, never a hang (a submission is reviewed first)."""
TOKEN_SCOPE = "triadops.token"
"""Key of the ASGI scope under which the HTTP guard leaves the request's bearer token."""
WORDS = {
    401: "unauthenticated",
    403: "refused",
    404: "not found",
    409: "conflict",
    413: "too large",
    422: "invalid input",
    429: "too many requests",
}
"""How a tool error starts for each refusal the server answers, as the local tools word it."""
_ENTRIES: TypeAdapter[list[LedgerEntry]] = TypeAdapter(list[LedgerEntry])


class Credentials(Protocol):
    """Finds the token a call goes out with."""

    def token(self, ctx: Context) -> str:
        """Return the call's token, or raise ToolError."""
        ...


@dataclass(frozen=True)
class FixedToken:
    """Over stdio: every call is the process's token."""

    secret: str = field(repr=False)

    def token(self, ctx: Context) -> str:
        """Return the process's token."""
        return self.secret


class RequestToken:
    """Over HTTP: the bearer token this request came with (left on its scope by the guard)."""

    def token(self, ctx: Context) -> str:
        """Return the request's token; none is a tool error."""
        request = ctx.request_context.request
        scope: dict[str, Any] = getattr(request, "scope", None) or {}
        found = scope.get(TOKEN_SCOPE)
        if not isinstance(found, str) or not found:
            raise ToolError(
                "unauthenticated: an 'Authorization: Bearer <token>' header is required"
            )
        return found


def known_actions() -> ActionRegistry:
    """Return the actions this process knows without settings.

    A server's own (declared commands, HTTP actions) are unknown here, and count as the
    worst case in the annotations.
    """
    return ActionRegistry([*builtin_actions(), *backup_actions(), *load_entry_point_actions()])


class Server:
    """A triad server's API, spoken to with one token per call."""

    def __init__(
        self, url: str, http: httpx.AsyncClient, *, timeout: httpx.Timeout = TIMEOUT
    ) -> None:
        self.url = url.rstrip("/")
        self.http = http
        self.timeout = timeout

    async def call(
        self,
        token: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Send one request; return its JSON, or raise a ToolError with the server's detail."""
        try:
            response = await self.http.request(
                method,
                self.url + path,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except httpx.TimeoutException:
            wait = self.timeout.read
            raise ToolError(f"{self.url} did not answer within {wait:g} s") from None
        except httpx.TransportError as exc:
            raise ToolError(f"cannot reach {self.url}: {exc or type(exc).__name__}") from None
        if response.is_success:
            return response.json()
        raise ToolError(problem(response))

    async def whoami(self, token: str) -> Identity:
        """Return the token's principal and roles as the server sees them now."""
        found = await self.call(token, "GET", "/whoami")
        return Identity(name=found["name"], roles=frozenset(found["roles"]))

    async def catalogue(self, token: str) -> Catalogue:
        """Read the server's procedures in full (their steps give the tools' annotations)."""
        lines = await self.call(token, "GET", "/procedures")
        procedures = [
            ProcedureDetail.model_validate(
                await self.call(token, "GET", f"/procedures/{segment(line['name'])}")
            )
            for line in lines["items"]
        ]
        return Catalogue(actions=known_actions(), procedures=procedures)


def problem(response: httpx.Response) -> str:
    """Word a refusal as a tool error: its kind, then the server's own detail."""
    try:
        body = response.json()
        detail = str(body.get("detail") or body.get("title"))
        where = body.get("field")
    except (ValueError, AttributeError):
        detail, where = response.reason_phrase or "no reason given", None
    if response.status_code == 422 and isinstance(where, str) and where not in detail:
        detail = f"{where}: {detail}"
    word = WORDS.get(response.status_code, f"the server answered {response.status_code}")
    return f"{word}: {detail}"


def segment(value: str) -> str:
    """Quote a path segment (an id with a slash must not reach another route)."""
    return quote(value, safe="")


def record(data: Any) -> OperationRecord:
    """Read an operation as the API answers it (its fields and its timeline)."""
    try:
        return OperationRecord(
            operation=Operation.model_validate(data),
            timeline=_ENTRIES.validate_python(data.get("timeline", [])),
        )
    except (ValidationError, AttributeError) as exc:
        raise ToolError(f"the server's answer is not an operation: {exc}") from None


class RemoteTools:
    """The tools on a server's API, each call with the token `credentials` finds."""

    def __init__(self, server: Server, credentials: Credentials, catalogue: Catalogue) -> None:
        self.server = server
        self.credentials = credentials
        self.catalogue = catalogue

    async def _get(self, ctx: Context, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self.server.call(self.credentials.token(ctx), "GET", path, params=params)

    async def list_procedures(self, ctx: Context) -> list[ProcedureLine]:
        """List the server's procedures."""
        found = await self._get(ctx, "/procedures")
        return [ProcedureLine.model_validate(item) for item in found["items"]]

    async def read_procedure(self, ctx: Context, name: str) -> ProcedureDetail:
        """Show one of the server's procedures in full."""
        return ProcedureDetail.model_validate(await self._get(ctx, f"/procedures/{segment(name)}"))

    async def read_health(self, ctx: Context) -> HealthReport:
        """Return the server's newest health report, or one it checks now."""
        return HealthReport.model_validate(await self._get(ctx, "/constitutional-health"))

    async def list_alerts(
        self,
        ctx: Context,
        *,
        states: Sequence[AlertState],
        severities: Sequence[Severity],
        limit: int,
    ) -> list[Alert]:
        """List the server's alerts, newest first."""
        params = {
            "state": [s.value for s in states],
            "severity": [s.value for s in severities],
            "limit": limit,
        }
        found = await self._get(ctx, "/alerts", params)
        return [Alert.model_validate(item) for item in found["items"]]

    async def list_operations(
        self,
        ctx: Context,
        *,
        statuses: Sequence[OperationStatus],
        types: Sequence[OperationType],
        limit: int,
    ) -> list[OperationSummary]:
        """List the server's operations, newest first."""
        params = {
            "status": [s.value for s in statuses],
            "operation_type": [t.value for t in types],
            "limit": limit,
        }
        found = await self._get(ctx, "/operations", params)
        return [OperationSummary.model_validate(item) for item in found["items"]]

    async def read_operation(self, ctx: Context, operation_id: str) -> OperationRecord:
        """Read one of the server's operations with its timeline."""
        return record(await self._get(ctx, f"/operations/{segment(operation_id)}"))

    async def submit(self, ctx: Context, request_for: RequestFor) -> OperationRecord:
        """Submit the request as the token's principal, naming the assistant as ``via``.

        The server reviews it and refuses what the token may not ask; the name asked under
        is the one the server gives the token, and a name given otherwise is refused there.
        """
        token = self.credentials.token(ctx)
        identity = await self.server.whoami(token)
        try:
            request = request_for(identity)
        except ValidationError as exc:
            raise ToolError(f"invalid input: {describe(exc)}") from None
        body = {**request.model_dump(mode="json"), "via": client_name(ctx)}
        return record(await self.server.call(token, "POST", "/operations", json=body))

    async def amend(
        self, ctx: Context, operation_id: str, steps: list[StepSpec]
    ) -> OperationRecord:
        """Replace the steps of the caller's operation on the server."""
        body = {"steps": [step.model_dump(mode="json") for step in steps]}
        path = f"/operations/{segment(operation_id)}/steps"
        return record(await self.server.call(self.credentials.token(ctx), "PUT", path, json=body))

    async def cancel(self, ctx: Context, operation_id: str, reason: str | None) -> Cancelled:
        """Cancel the caller's operation on the server."""
        path = f"/operations/{segment(operation_id)}/cancel"
        token = self.credentials.token(ctx)
        found = await self.server.call(token, "POST", path, json={"reason": reason})
        return Cancelled(**dict(record(found)), cancel=str(found.get("cancel", "")))


def server_client() -> httpx.AsyncClient:
    """Return the client a remote ``triad mcp`` speaks to its server with."""
    return httpclient.client(timeout=TIMEOUT)


async def connect(server: Server, token: str) -> Catalogue:
    """Check `token` with the server and read its catalogue; TriadError in one line if not."""
    try:
        await server.whoami(token)
        return await server.catalogue(token)
    except ToolError as exc:
        raise TriadError(f"{server.url}: {exc}") from None


async def admit(server: Server, token: str) -> None:
    """Let an HTTP request through when the server accepts its token (Unauthenticated if not)."""
    try:
        await server.whoami(token)
    except ToolError as exc:
        if str(exc).startswith(WORDS[401]):
            raise Unauthenticated(f"{server.url} refused the token: {exc}") from None
        raise
