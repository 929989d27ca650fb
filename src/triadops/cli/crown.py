"""``triad freeze`` and ``triad unfreeze``: the crown holds and releases all forward work."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer

from triadops.cli.context import (
    AsName,
    JsonFlag,
    checked_reason,
    local_identity,
    refuse_as,
    run,
)
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.cli.views import CrownSwitch
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import freeze, unfreeze
from triadops.runtime import Runtime


def freeze_command(
    reason: Annotated[str, typer.Option(help="Why; kept on the record.")],
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Freeze: queued operations wait, running ones stop after their current step."""
    reason = checked_reason(reason)  # the API's rule, so both refuse a blank reason alike
    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            return _said(client.freeze(reason), as_json=as_json)
    by = local_identity(as_name)

    async def work(rt: Runtime) -> None:
        async with rt.session() as session:
            await freeze(session, by=by, reason=reason)
            await lifecycle.commit(session)

    run(work, creates=True)
    _said(CrownSwitch(frozen=True, by=by.name, reason=reason), as_json=as_json)


def unfreeze_command(as_json: JsonFlag = False, as_name: AsName = None) -> None:
    """Lift the freeze; held operations go on."""
    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            return _said(client.unfreeze(), as_json=as_json)
    by = local_identity(as_name)

    async def work(rt: Runtime) -> None:
        async with rt.session() as session:
            await unfreeze(session, by=by)
            await lifecycle.commit(session)

    run(work)
    _said(CrownSwitch(frozen=False, by=by.name), as_json=as_json)


def _said(switch: CrownSwitch, *, as_json: bool) -> None:
    """Print who froze (and why) or unfroze, alike in both modes."""
    if as_json:
        emit_json(switch.model_dump(exclude_none=not switch.frozen))
        return
    if switch.frozen:
        console().print(f"frozen by {switch.by}: {switch.reason}")
    else:
        console().print(f"unfrozen by {switch.by}")
