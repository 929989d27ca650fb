"""The tools that ask for a change: submit, amend and cancel an operation. Nothing else.

Each goes through the same services as the API's routes, as the token's principal: the
legislature reviews a submission and decides (rejected, awaiting approval or scheduled);
the requester (or the crown) may amend or cancel. There is deliberately no tool to
approve, reject, acknowledge, resolve, review, freeze or unfreeze: an assistant asks,
people with their own tokens decide.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field, JsonValue

from triadops.actions.procedures.model import Procedure
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import cancel_answer, cancel_operation
from triadops.constitution.legislative.service import (
    amend_operation,
    commit_new_operation,
    review_request,
    store_reviewed,
)
from triadops.domain.enums import Authority
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationId, OperationRequest, Reason, StepSpec, Text
from triadops.domain.principals import PrincipalName
from triadops.mcp.calls import Tools, client_name
from triadops.mcp.hints import CANCEL, any_steps_hints, procedure_hints
from triadops.mcp.reads import OperationRecord, operation_record

TOOL_NAME_MAX = 64
"""The longest tool name this server gives; a procedure past it is asked for by name."""


class Submission(OperationRequest):
    """An operation request; ``requested_by`` defaults to the token's principal."""

    requested_by: PrincipalName | None = None  # type: ignore[assignment]
    """Who asks; when given it must be the token's own principal (else refused)."""

    def for_requester(self, identity: Identity) -> OperationRequest:
        """Return the request as the legislature sees it, naming the requester."""
        fields = self.model_dump(exclude={"requested_by"})
        return OperationRequest.model_validate(
            {**fields, "requested_by": self.requested_by or identity.name}
        )


class Cancelled(OperationRecord):
    """The operation after a cancel was accepted, and what happens next."""

    cancel: str
    """``cancelled``, or whether a running step stops now or after it ends."""


def add_changes(server: MCPServer, tools: Tools) -> None:
    """Register submit (any request, and one tool per procedure), amend and cancel."""
    runtime = tools.runtime
    steps_hints = any_steps_hints(runtime.actions)

    @server.tool(annotations=steps_hints)
    async def submit_operation(request: Submission, ctx: Context) -> OperationRecord:
        """Submit an operation for review: a named procedure or explicit steps.

        It comes back rejected, awaiting approval or scheduled, as through the API; an
        approval is given by a person with their own token, never through this server.
        """
        return await submit(tools, ctx, request.for_requester)

    @server.tool(name="amend_operation", annotations=steps_hints)
    async def amend(
        operation_id: OperationId,
        steps: Annotated[list[StepSpec], Field(min_length=1, max_length=100)],
        ctx: Context,
    ) -> OperationRecord:
        """Replace the steps of your operation before it runs; approvals given are void."""

        async def work(identity: Identity) -> OperationRecord:
            async with runtime.session() as session:
                await amend_operation(
                    session, runtime.powers, operation_id=operation_id, steps=steps, by=identity
                )
                await lifecycle.commit(session)
            return await read(tools, operation_id)

        return await tools.changing(ctx, "amend", work, operation_id=operation_id)

    @server.tool(name="cancel_operation", annotations=CANCEL)
    async def cancel(
        operation_id: OperationId, ctx: Context, reason: Reason | None = None
    ) -> Cancelled:
        """Cancel your operation (or any, with the crown's role); a running one is stopped."""

        async def work(identity: Identity) -> Cancelled:
            async with runtime.session() as session:
                row = await cancel_operation(
                    session, operation_id=operation_id, by=identity, reason=reason
                )
                answer = await cancel_answer(session, row, actions=runtime.actions)
                await lifecycle.commit(session)
            record = await read(tools, operation_id)
            return Cancelled(**dict(record), cancel=answer)

        return await tools.changing(ctx, "cancel", work, operation_id=operation_id)

    taken = {"submit_operation"}
    for procedure in runtime.procedures:
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

        return await submit(tools, ctx, request_for)

    params = ", ".join(sorted(procedure.params)) or "none"
    server.add_tool(
        submit_procedure,
        name=name,
        description=(
            f"Submit the procedure {procedure.name} ({procedure.risk.value} risk; parameters: "
            f"{params}): {procedure.description}"
        ),
        annotations=procedure_hints(tools.runtime.actions, procedure),
    )


async def submit(
    tools: Tools, ctx: Context, request_for: Callable[[Identity], OperationRequest]
) -> OperationRecord:
    """Review and store the caller's request, recording the assistant beside the principal."""
    runtime = tools.runtime
    via = client_name(ctx)

    async def work(identity: Identity) -> OperationRecord:
        request = request_for(identity)
        # Reviewed (previews may reach targets) before the write lock is taken.
        async with runtime.session(read_only=True) as reading:
            reviewed = await review_request(
                reading, runtime.powers, request=request, requester=identity
            )
        async with runtime.session() as session:
            store_reviewed(session, runtime.powers, reviewed, via=via)
            await commit_new_operation(session, request.operation_id)
        return await read(tools, request.operation_id)

    return await tools.changing(ctx, "submit", work)


async def read(tools: Tools, operation_id: str) -> OperationRecord:
    """Read an operation as committed, with its timeline."""
    async with tools.runtime.session(read_only=True) as session:
        return await operation_record(session, operation_id)
