"""The tools that only read: procedures, health, alerts and operations.

Any valid token may call them, the viewer's included, as the API's GET routes allow.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from triadops.actions.procedures.views import ProcedureDetail, ProcedureLine
from triadops.domain.alert_views import Alert
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import OperationStatus, OperationType
from triadops.domain.health import HealthReport
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import OperationId
from triadops.mcp.calls import Tools
from triadops.mcp.hints import READ
from triadops.mcp.models import OperationRecord

Limit = Annotated[int, Field(ge=1, le=200, description="At most this many, newest first.")]


def add_reads(server: MCPServer, tools: Tools) -> None:
    """Register the read-only tools on `server`."""
    add_catalogue_reads(server, tools)
    add_state_reads(server, tools)


def add_catalogue_reads(server: MCPServer, tools: Tools) -> None:
    """Register the tools that read the procedures and the health of the system."""

    @server.tool(annotations=READ)
    async def list_procedures(ctx: Context) -> list[ProcedureLine]:
        """List the procedures an operation may ask for by name, with risk and authority."""
        return await tools.list_procedures(ctx)

    @server.tool(annotations=READ)
    async def read_procedure(
        name: Annotated[str, Field(min_length=1, max_length=100)], ctx: Context
    ) -> ProcedureDetail:
        """Show one procedure: its steps, declared parameters, authority and risk."""
        return await tools.read_procedure(ctx, name)

    @server.tool(annotations=READ)
    async def read_health(ctx: Context) -> HealthReport:
        """Read the newest stored health report (host, databases, targets, the branches).

        With none stored yet, a check is taken now and not stored.
        """
        return await tools.read_health(ctx)


def add_state_reads(server: MCPServer, tools: Tools) -> None:
    """Register the tools that read alerts and operations."""

    @server.tool(annotations=READ)
    async def list_alerts(
        ctx: Context,
        state: list[AlertState] | None = None,
        severity: list[Severity] | None = None,
        limit: Limit = 50,
    ) -> list[Alert]:
        """List alerts, newest first, optionally only in these states and severities."""
        return await tools.list_alerts(
            ctx, states=state or (), severities=severity or (), limit=limit
        )

    @server.tool(annotations=READ)
    async def list_operations(
        ctx: Context,
        status: list[OperationStatus] | None = None,
        operation_type: list[OperationType] | None = None,
        limit: Limit = 50,
    ) -> list[OperationSummary]:
        """List operations, newest first, optionally only in these states and types."""
        return await tools.list_operations(
            ctx, statuses=status or (), types=operation_type or (), limit=limit
        )

    @server.tool(annotations=READ)
    async def read_operation(operation_id: OperationId, ctx: Context) -> OperationRecord:
        """Read one operation in full: request, plan, approvals, steps and its timeline."""
        return await tools.read_operation(ctx, operation_id)
