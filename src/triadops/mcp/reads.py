"""The tools that only read: procedures, health, alerts and operations.

Any valid token may call them, the viewer's included, as the API's GET routes allow.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.actions.procedures.views import (
    ProcedureDetail,
    ProcedureLine,
    procedure_detail,
    procedure_lines,
)
from triadops.constitution.ledger import to_entry
from triadops.domain.alert_views import Alert
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import OperationStatus, OperationType
from triadops.domain.health import HealthReport
from triadops.domain.identity import Identity
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import Operation, OperationId
from triadops.mcp.calls import Tools
from triadops.mcp.hints import READ
from triadops.ops.alerts import models as alerts
from triadops.ops.health import check_health
from triadops.ops.health.models import latest
from triadops.storage import ledger as ledger_store
from triadops.storage import listing
from triadops.storage.records import load_operation, operation_summary

Limit = Annotated[int, Field(ge=1, le=200, description="At most this many, newest first.")]


class OperationRecord(BaseModel):
    """One operation in full, with every ledger entry about it, oldest first."""

    operation: Operation
    timeline: list[LedgerEntry]


async def operation_record(session: AsyncSession, operation_id: str) -> OperationRecord:
    """Read one operation and its ledger entries; NotFound if unknown."""
    operation = await load_operation(session, operation_id)
    entries = await ledger_store.select_operation_entries(session, operation_id)
    return OperationRecord(operation=operation, timeline=[to_entry(e) for e in entries])


def add_reads(server: MCPServer, tools: Tools) -> None:
    """Register the read-only tools on `server`."""
    add_catalogue_reads(server, tools)
    add_state_reads(server, tools)


def add_catalogue_reads(server: MCPServer, tools: Tools) -> None:
    """Register the tools that read the procedures and the health of the system."""
    runtime = tools.runtime

    @server.tool(annotations=READ)
    async def list_procedures(ctx: Context) -> list[ProcedureLine]:
        """List the procedures an operation may ask for by name, with risk and authority."""

        async def work(_: Identity) -> list[ProcedureLine]:
            return procedure_lines(runtime.procedures)

        return await tools.reading(ctx, work)

    @server.tool(annotations=READ)
    async def read_procedure(
        name: Annotated[str, Field(min_length=1, max_length=100)], ctx: Context
    ) -> ProcedureDetail:
        """Show one procedure: its steps, declared parameters, authority and risk."""

        async def work(_: Identity) -> ProcedureDetail:
            return procedure_detail(runtime.procedures, name)

        return await tools.reading(ctx, work)

    @server.tool(annotations=READ)
    async def read_health(ctx: Context) -> HealthReport:
        """Read the newest stored health report (host, databases, targets, the branches).

        With none stored yet, a check is taken now and not stored.
        """

        async def work(_: Identity) -> HealthReport:
            async with runtime.session(read_only=True) as session:
                stored = await latest(session)
            return stored if stored is not None else await check_health(runtime.powers)

        return await tools.reading(ctx, work)


def add_state_reads(server: MCPServer, tools: Tools) -> None:
    """Register the tools that read alerts and operations."""
    runtime = tools.runtime

    @server.tool(annotations=READ)
    async def list_alerts(
        ctx: Context,
        state: list[AlertState] | None = None,
        severity: list[Severity] | None = None,
        limit: Limit = 50,
    ) -> list[Alert]:
        """List alerts, newest first, optionally only in these states and severities."""

        async def work(_: Identity) -> list[Alert]:
            async with runtime.session(read_only=True) as session:
                return await alerts.list_alerts(
                    session, states=state or (), severities=severity or (), limit=limit
                )

        return await tools.reading(ctx, work)

    @server.tool(annotations=READ)
    async def list_operations(
        ctx: Context,
        status: list[OperationStatus] | None = None,
        operation_type: list[OperationType] | None = None,
        limit: Limit = 50,
    ) -> list[OperationSummary]:
        """List operations, newest first, optionally only in these states and types."""

        async def work(_: Identity) -> list[OperationSummary]:
            async with runtime.session(read_only=True) as session:
                rows = await listing.list_operations(
                    session, statuses=status or (), types=operation_type or (), limit=limit
                )
            return [operation_summary(row) for row in rows]

        return await tools.reading(ctx, work)

    @server.tool(annotations=READ)
    async def read_operation(operation_id: OperationId, ctx: Context) -> OperationRecord:
        """Read one operation in full: request, plan, approvals, steps and its timeline."""

        async def work(_: Identity) -> OperationRecord:
            async with runtime.session(read_only=True) as session:
                return await operation_record(session, operation_id)

        return await tools.reading(ctx, work)
