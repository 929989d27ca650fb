"""``triad freeze`` and ``triad unfreeze``: the crown holds and releases all forward work."""

from __future__ import annotations

from typing import Annotated

import typer

from triadops.cli.context import AsName, JsonFlag, checked_reason, local_identity, run
from triadops.cli.output import console, emit_json
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import freeze, unfreeze
from triadops.runtime import Runtime


def freeze_command(
    reason: Annotated[str, typer.Option(help="Why; kept on the record.")],
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Freeze: queued operations wait, running ones stop after their current step."""
    by = local_identity(as_name)
    reason = checked_reason(reason)  # the API's rule, so both refuse a blank reason alike

    async def work(rt: Runtime) -> None:
        async with rt.session() as session:
            await freeze(session, by=by, reason=reason)
            await lifecycle.commit(session)

    run(work, creates=True)
    if as_json:
        emit_json({"frozen": True, "by": by.name, "reason": reason})
        return
    console().print(f"frozen by {by.name}: {reason}")


def unfreeze_command(as_json: JsonFlag = False, as_name: AsName = None) -> None:
    """Lift the freeze; held operations go on."""
    by = local_identity(as_name)

    async def work(rt: Runtime) -> None:
        async with rt.session() as session:
            await unfreeze(session, by=by)
            await lifecycle.commit(session)

    run(work)
    if as_json:
        emit_json({"frozen": False, "by": by.name})
        return
    console().print(f"unfrozen by {by.name}")
