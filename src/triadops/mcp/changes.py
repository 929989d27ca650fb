"""The tools that ask for a change: submit, amend and cancel an operation. Nothing else.

Each goes through the same services as the API's routes, as the token's principal: the
legislature reviews a submission and decides (rejected, awaiting approval or scheduled);
the requester (or the crown) may amend or cancel. There is deliberately no tool to
approve, reject, acknowledge, resolve, review, freeze or unfreeze: an assistant asks,
people with their own tokens decide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field, JsonValue

from triadops.actions.procedures.model import Procedure
from triadops.domain.enums import Authority
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationId, OperationRequest, Reason, StepSpec, Text
from triadops.mcp.calls import Tools
from triadops.mcp.hints import CANCEL, any_steps_hints, procedure_hints
from triadops.mcp.models import Cancelled, OperationRecord, Submission

TOOL_NAME_MAX = 64
"""The longest tool name this server gives; a procedure past it is asked for by name."""


def add_changes(server: MCPServer, tools: Tools) -> None:
    """Register submit (any request, and one tool per procedure), amend and cancel."""
    catalogue = tools.catalogue
    steps_hints = any_steps_hints(catalogue.actions)

    @server.tool(annotations=steps_hints)
    async def submit_operation(request: Submission, ctx: Context) -> OperationRecord:
        """Submit an operation for review: a named procedure or explicit steps.

        It comes back rejected, awaiting approval or scheduled, as through the API; an
        approval is given by a person with their own token, never through this server.
        """
        return await tools.submit(ctx, request.for_requester)

    @server.tool(name="amend_operation", annotations=steps_hints)
    async def amend(
        operation_id: OperationId,
        steps: Annotated[list[StepSpec], Field(min_length=1, max_length=100)],
        ctx: Context,
    ) -> OperationRecord:
        """Replace the steps of your operation before it runs; approvals given are void."""
        return await tools.amend(ctx, operation_id, steps)

    @server.tool(name="cancel_operation", annotations=CANCEL)
    async def cancel(
        operation_id: OperationId, ctx: Context, reason: Reason | None = None
    ) -> Cancelled:
        """Cancel your operation (or any, with the crown's role); a running one is stopped."""
        return await tools.cancel(ctx, operation_id, reason)

    taken = {"submit_operation"}
    for procedure in catalogue.procedures:
        name = "submit_" + procedure.name.replace(".", "_")
        if len(name) <= TOOL_NAME_MAX and name not in taken:
            taken.add(name)
            add_procedure_tool(server, tools, procedure, name)


def add_procedure_tool(server: MCPServer, tools: Tools, procedure: Procedure, name: str) -> None:
    """Register the tool that submits `procedure`, its hints from its steps' actions."""

    async def submit_procedure(
        ctx: Context,
        procedure_params: dict[str, JsonValue] | None = None,
        description: Annotated[Text | None, Field(min_length=1, max_length=2000)] = None,
        constitutional_authority: Authority | None = None,
        scheduled_time: datetime | None = None,
        window: Annotated[Text | None, Field(min_length=1, max_length=100)] = None,
    ) -> OperationRecord:
        def request_for(identity: Identity) -> OperationRequest:
            allowed = procedure.constitutional_authority
            held = [a for a in allowed if identity.holds(a)]
            return OperationRequest.model_validate(
                {
                    "operation_type": procedure.operation_type,
                    "constitutional_authority": constitutional_authority or (held or allowed)[0],
                    "description": description or f"procedure {procedure.name}",
                    "requested_by": identity.name,
                    "procedure": procedure.name,
                    "procedure_params": procedure_params or {},
                    "scheduled_time": scheduled_time,
                    "window": window,
                }
            )

        return await tools.submit(ctx, request_for)

    params = ", ".join(sorted(procedure.params)) or "none"
    server.add_tool(
        submit_procedure,
        name=name,
        description=(
            f"Submit the procedure {procedure.name} ({procedure.risk.value} risk; parameters: "
            f"{params}): {procedure.description}"
        ),
        annotations=procedure_hints(tools.catalogue.actions, procedure),
    )
