"""The tools on this machine's database: the services the API's routes call, as the caller.

Every call finds its caller again (`calls.Caller`), checks the role the API's route would,
and runs the same service in its own transaction. A refusal is put on the ledger's record,
as the API and the CLI do, then answered as a tool error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from triadops.actions.procedures.views import (
    ProcedureDetail,
    ProcedureLine,
    procedure_detail,
    procedure_lines,
)
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import cancel_answer, cancel_operation, record_refusal
from triadops.constitution.ledger import to_entry
from triadops.constitution.legislative.service import (
    amend_operation,
    commit_new_operation,
    review_request,
    store_reviewed,
)
from triadops.domain.alert_views import Alert
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import OperationStatus, OperationType
from triadops.domain.errors import Forbidden, TriadError
from triadops.domain.health import HealthReport
from triadops.domain.identity import Identity
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import StepSpec
from triadops.mcp.calls import OPERATORS, Caller, Catalogue, RequestFor, client_name, describe
from triadops.mcp.models import Cancelled, OperationRecord
from triadops.ops.alerts import models as alerts
from triadops.ops.health import check_health
from triadops.ops.health.models import latest
from triadops.runtime import Runtime
from triadops.storage import ledger as ledger_store
from triadops.storage import listing
from triadops.storage.records import load_operation, operation_summary

T = TypeVar("T")


class LocalTools:
    """The tools on `runtime`'s database, as the principal `caller` finds."""

    def __init__(self, runtime: Runtime, caller: Caller) -> None:
        self.runtime = runtime
        self.caller = caller
        self.catalogue = Catalogue(actions=runtime.actions, procedures=list(runtime.procedures))

    async def list_procedures(self, ctx: Context) -> list[ProcedureLine]:
        """List the procedures this process loaded."""

        async def work(_: Identity) -> list[ProcedureLine]:
            return procedure_lines(self.runtime.procedures)

        return await self._answer(ctx, "read", work, operator=False)

    async def read_procedure(self, ctx: Context, name: str) -> ProcedureDetail:
        """Show one procedure in full."""

        async def work(_: Identity) -> ProcedureDetail:
            return procedure_detail(self.runtime.procedures, name)

        return await self._answer(ctx, "read", work, operator=False)

    async def read_health(self, ctx: Context) -> HealthReport:
        """Return the newest stored report; with none yet, one checked now and not stored."""

        async def work(_: Identity) -> HealthReport:
            async with self.runtime.session(read_only=True) as session:
                stored = await latest(session)
            return stored if stored is not None else await check_health(self.runtime.powers)

        return await self._answer(ctx, "read", work, operator=False)

    async def list_alerts(
        self,
        ctx: Context,
        *,
        states: Sequence[AlertState],
        severities: Sequence[Severity],
        limit: int,
    ) -> list[Alert]:
        """List alerts, newest first."""

        async def work(_: Identity) -> list[Alert]:
            async with self.runtime.session(read_only=True) as session:
                return await alerts.list_alerts(
                    session, states=states, severities=severities, limit=limit
                )

        return await self._answer(ctx, "read", work, operator=False)

    async def list_operations(
        self,
        ctx: Context,
        *,
        statuses: Sequence[OperationStatus],
        types: Sequence[OperationType],
        limit: int,
    ) -> list[OperationSummary]:
        """List operations, newest first."""

        async def work(_: Identity) -> list[OperationSummary]:
            async with self.runtime.session(read_only=True) as session:
                rows = await listing.list_operations(
                    session, statuses=statuses, types=types, limit=limit
                )
            return [operation_summary(row) for row in rows]

        return await self._answer(ctx, "read", work, operator=False)

    async def read_operation(self, ctx: Context, operation_id: str) -> OperationRecord:
        """Read one operation with its timeline."""

        async def work(_: Identity) -> OperationRecord:
            return await self._record(operation_id)

        return await self._answer(ctx, "read", work, operator=False)

    async def submit(self, ctx: Context, request_for: RequestFor) -> OperationRecord:
        """Review and store the caller's request, recording the assistant beside the caller."""
        via = client_name(ctx)

        async def work(identity: Identity) -> OperationRecord:
            request = request_for(identity)
            # Reviewed (previews may reach targets) before the write lock is taken.
            async with self.runtime.session(read_only=True) as reading:
                reviewed = await review_request(
                    reading, self.runtime.powers, request=request, requester=identity
                )
            async with self.runtime.session() as session:
                store_reviewed(session, self.runtime.powers, reviewed, via=via)
                await commit_new_operation(session, request.operation_id)
            return await self._record(request.operation_id)

        return await self._answer(ctx, "submit", work, operator=True)

    async def amend(
        self, ctx: Context, operation_id: str, steps: list[StepSpec]
    ) -> OperationRecord:
        """Replace the steps of the caller's operation; approvals given are void."""

        async def work(identity: Identity) -> OperationRecord:
            async with self.runtime.session() as session:
                await amend_operation(
                    session,
                    self.runtime.powers,
                    operation_id=operation_id,
                    steps=steps,
                    by=identity,
                )
                await lifecycle.commit(session)
            return await self._record(operation_id)

        return await self._answer(ctx, "amend", work, operator=True, operation_id=operation_id)

    async def cancel(self, ctx: Context, operation_id: str, reason: str | None) -> Cancelled:
        """Cancel the caller's operation; a running one is stopped."""

        async def work(identity: Identity) -> Cancelled:
            async with self.runtime.session() as session:
                row = await cancel_operation(
                    session, operation_id=operation_id, by=identity, reason=reason
                )
                answer = await cancel_answer(session, row, actions=self.runtime.actions)
                await lifecycle.commit(session)
            record = await self._record(operation_id)
            return Cancelled(**dict(record), cancel=answer)

        return await self._answer(ctx, "cancel", work, operator=True, operation_id=operation_id)

    async def _record(self, operation_id: str) -> OperationRecord:
        """Read an operation as committed, with its timeline; NotFound if unknown."""
        async with self.runtime.session(read_only=True) as session:
            operation = await load_operation(session, operation_id)
            entries = await ledger_store.select_operation_entries(session, operation_id)
        return OperationRecord(operation=operation, timeline=[to_entry(e) for e in entries])

    async def _answer(
        self,
        ctx: Context,
        action: str,
        work: Callable[[Identity], Awaitable[T]],
        *,
        operator: bool,
        operation_id: str | None = None,
    ) -> T:
        """Run `work` as the caller: any valid token reads; a change needs an operator role."""
        identity: Identity | None = None
        try:
            identity = await self.caller.identity(self.runtime, ctx)
            if operator and not any(role in identity.roles for role in OPERATORS):
                names = " or ".join(r.value for r in OPERATORS)
                raise Forbidden(f"{identity.name} holds none of the roles this needs: {names}")
            return await work(identity)
        except Forbidden as exc:
            if operator and identity is not None:
                await self._refused(identity, action, exc, operation_id)
            raise ToolError(f"refused: {exc.message}") from None
        except TriadError as exc:
            raise ToolError(f"{exc.title.lower()}: {exc.message}") from None
        except ValidationError as exc:
            raise ToolError(f"invalid input: {describe(exc)}") from None

    async def _refused(
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
