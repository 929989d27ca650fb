"""``triad standards list | show | grant | decline | revoke``: plans that keep passing.

A plan (its exact steps, parameters, systems, rollback plan and criteria: its hash) that
passed validation ``standards.propose_after`` times in a row is proposed; a legislator
grants it, and its runs are pre-approved in their name until one fails. The same output
locally and remotely (``TRIAD_URL``).
"""

from __future__ import annotations

from contextlib import closing
from typing import Annotated, Any
from urllib.parse import quote

import typer

from triadops.cli.context import AsName, BadInput, JsonFlag, local_identity, refuse_as, run
from triadops.cli.output import console, emit_json, fitted_table
from triadops.cli.remote import remote
from triadops.constitution import lifecycle
from triadops.domain.standards import Decision, StandardChange, Standing
from triadops.ops.standards import service
from triadops.runtime import Runtime

app = typer.Typer(
    help="Standard changes: plans pre-approved after validated runs.", no_args_is_help=True
)
PlanArg = Annotated[
    str, typer.Argument(metavar="PLAN", help="The plan's hash, or its first 8+ hex digits.")
]


def _standing(value: str | None) -> Standing | None:
    if value is None:
        return None
    try:
        return Standing(value)
    except ValueError:
        names = ", ".join(s.value for s in Standing)
        raise BadInput(f"--standing: {value!r} is not one of {names}") from None


@app.command("list")
def list_(
    standing: Annotated[
        str | None, typer.Option(help="Only those standing so (none, proposed, standard, ...).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List the success records and standings, most recently changed first."""
    wanted = _standing(standing)
    client = remote()
    if client is not None:
        with closing(client):
            params: dict[str, Any] = {"limit": limit}
            if wanted is not None:
                params["standing"] = wanted.value
            items = client.call("GET", "/standards", params=params)["items"]
        found = [StandardChange.model_validate(i) for i in items]
    else:

        async def work(rt: Runtime) -> list[StandardChange]:
            async with rt.session(read_only=True) as session:
                return await service.listing(session, standing=wanted, limit=limit)

        found = run(work)
    if as_json:
        emit_json(found)
        return
    table = fitted_table("plan", "subject", "standing", "streak", "passed", "failed", "decided")
    for s in found:
        decided = f"{s.decided_by} {s.decided_at:%Y-%m-%d}" if s.decided_by and s.decided_at else ""
        table.add_row(
            s.plan_hash[:12],
            s.subject,
            s.standing.value,
            str(s.streak),
            str(s.successes),
            str(s.failures),
            decided,
        )
    console().print(table)


@app.command("show")
def show(plan: PlanArg, as_json: JsonFlag = False) -> None:
    """Show one plan's record."""
    client = remote()
    if client is not None:
        with closing(client):
            found = StandardChange.model_validate(
                client.call("GET", f"/standards/{quote(plan, safe='')}")
            )
    else:

        async def work(rt: Runtime) -> StandardChange:
            async with rt.session(read_only=True) as session:
                return await service.find(session, plan)

        found = run(work)
    _print(found, as_json=as_json)


def _print(found: StandardChange, *, as_json: bool) -> None:
    if as_json:
        emit_json(found)
        return
    out = console()
    out.print(f"{found.plan_hash}: {found.subject}: {found.standing.value}", markup=False)
    out.print(
        f"  {found.streak} validated in a row; {found.successes} passed, {found.failures} failed",
        markup=False,
    )
    if found.last_operation_id:
        last = found.last_outcome.value if found.last_outcome else "-"
        out.print(f"  last run: {found.last_operation_id} ({last})", markup=False)
    if found.decided_by:
        out.print(f"  decided by {found.decided_by} at {found.decided_at}", markup=False)
    if found.reason:
        out.print(f"  reason: {found.reason}", markup=False)


def _decide(
    plan: str, decision: Decision, reason: str | None, *, as_json: bool, as_name: str | None
) -> None:
    identity = local_identity(as_name)
    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            answer = client.call(
                "POST",
                f"/standards/{quote(plan, safe='')}/{decision.value}",
                json={"reason": reason},
            )
        found = StandardChange.model_validate(answer)
    else:

        async def work(rt: Runtime) -> StandardChange:
            async with rt.session() as session:
                decided = await service.decide(
                    session, plan=plan, decision=decision, by=identity, reason=reason
                )
                await lifecycle.commit(session)
                return decided

        found = run(work, creates=True, writes=True)
    _print(found, as_json=as_json)


Reason = Annotated[str, typer.Option("--reason", help="Why; it goes in the ledger.")]


@app.command("grant")
def grant(
    plan: PlanArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (optional).")] = None,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Pre-approve PLAN in your name: its runs, and those waiting now, need no other approval."""
    _decide(plan, Decision.GRANT, reason, as_json=as_json, as_name=as_name)


@app.command("decline")
def decline(
    plan: PlanArg, reason: Reason, as_json: JsonFlag = False, as_name: AsName = None
) -> None:
    """Decline the proposal: PLAN's runs keep needing a person's approval."""
    _decide(plan, Decision.DECLINE, reason, as_json=as_json, as_name=as_name)


@app.command("revoke")
def revoke(
    plan: PlanArg, reason: Reason, as_json: JsonFlag = False, as_name: AsName = None
) -> None:
    """Take PLAN's standing away: its next runs wait for a person again."""
    _decide(plan, Decision.REVOKE, reason, as_json=as_json, as_name=as_name)
