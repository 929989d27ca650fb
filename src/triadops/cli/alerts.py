"""``triad alerts``: see, acknowledge and resolve alerts (``triad silences`` mutes them)."""

from __future__ import annotations

import json
import re
from contextlib import closing
from typing import Annotated

import typer

from triadops.cli.context import (
    AsName,
    BadInput,
    JsonFlag,
    checked_reason,
    choice,
    local_identity,
    refuse_as,
    run,
)
from triadops.cli.output import console, emit_json, fitted_table, render_entries
from triadops.cli.remote import remote
from triadops.cli.silences import duration_seconds as duration_seconds
from triadops.cli.silences import silences_app as silences_app
from triadops.cli.views import AlertLine, AlertStory, labels_text
from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.clock import utcnow
from triadops.ops.alerts import models, service
from triadops.runtime import Runtime

alerts_app = typer.Typer(help="List, show, acknowledge and resolve alerts.", no_args_is_help=True)

_ALERT_FIELDS = (
    "id",
    "fingerprint",
    "alertname",
    "state",
    "severity",
    "labels",
    "annotations",
    "source",
    "group_key",
    "count",
    "starts_at",
    "last_seen",
    "ends_at",
    "resolved_at",
    "resolved_by",
    "acknowledged_at",
    "acknowledged_by",
    "silence_id",
    "escalation_level",
    "ack_deadline",
    "notified_at",
    "generator_url",
)


def _alert_id(text: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,9}", text) or int(text) > 2**31 - 1:
        raise BadInput(f"ID: {text!r} is not an alert id (a positive whole number)")
    return int(text)


@alerts_app.command("list")
def list_alerts(
    state: Annotated[
        list[str] | None, typer.Option(help="Only alerts in this state; repeatable.")
    ] = None,
    severity: Annotated[
        list[str] | None, typer.Option(help="Only alerts of this severity; repeatable.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List alerts, newest first."""
    states = [choice(AlertState, s, "--state") for s in state or []]
    severities = [choice(Severity, s, "--severity") for s in severity or []]

    client = remote()
    if client is not None:
        with closing(client):
            listed = client.alerts(
                states=[s.value for s in states],
                severities=[s.value for s in severities],
                limit=limit,
            )
    else:

        async def work(rt: Runtime) -> list[AlertLine]:
            async with rt.session(read_only=True) as session:
                return await models.list_alerts(
                    session, states=states, severities=severities, limit=limit
                )

        listed = run(work)
    if as_json:
        emit_json(listed)
        return
    table = fitted_table("id", "state", "severity", "alert", "labels", "count", "last seen", "by")
    for a in listed:
        table.add_row(
            str(a.id),
            a.state.value,
            a.severity.value,
            a.alertname,
            labels_text(a.labels),
            str(a.count),
            a.last_seen.isoformat(timespec="seconds")[:19],
            a.acknowledged_by or a.resolved_by or "",
        )
    console().print(table if listed else "no alerts")


@alerts_app.command()
def show(alert_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Show an alert: labels, state, its group's deliveries and its ledger entries."""
    wanted = _alert_id(alert_id)

    client = remote()
    if client is not None:
        with closing(client):
            story = client.alert_story(wanted)
    else:

        async def work(rt: Runtime) -> AlertStory:
            async with rt.session(read_only=True) as session:
                return AlertStory.told(await models.alert_history(session, wanted))

        story = run(work)
    if as_json:
        emit_json(story)
        return
    data = AlertLine.model_validate(story.model_dump()).model_dump(mode="json")
    out = console()
    out.print(f"alert {story.id}: {story.alertname} ({story.severity}), {story.state}")
    for name in ("labels", "annotations"):
        if data[name]:
            out.print(f"{name}: {json.dumps(data[name], ensure_ascii=False)}")
    for name in _ALERT_FIELDS[9:]:
        if data[name] not in (None, 0):
            out.print(f"{name}: {data[name]}")
    for n in story.notifications:
        at = n.created_at.isoformat()
        out.print(f"notified {n.channel} ({n.reason}): {n.status} at {at}")
    render_entries(story.timeline)


@alerts_app.command()
def ack(
    alert_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Acknowledge an alert: its escalation stops waiting on it."""
    wanted, by = _alert_id(alert_id), local_identity(as_name)
    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            alert = client.alert(wanted, "ack")
    else:

        async def work(rt: Runtime) -> AlertLine:
            async with rt.session() as session:
                row = await service.acknowledge(session, alert_id=wanted, by=by, now=utcnow())
                await lifecycle.commit(session)
                return models.alert_of(row)

        alert = run(work, writes=True)
    if as_json:
        emit_json(alert)
        return
    console().print(
        f"alert {alert.id}: {alert.state.value}, acknowledged by {alert.acknowledged_by}"
    )


@alerts_app.command()
def resolve(
    alert_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str | None, typer.Option(help="Why; kept on the record.")] = None,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Resolve an alert by hand; raised again, it opens a new alert."""
    wanted, by = _alert_id(alert_id), local_identity(as_name)
    why = None if reason is None else checked_reason(reason)
    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            alert = client.alert(wanted, "resolve", {"reason": why} if why else None)
    else:

        async def work(rt: Runtime) -> AlertLine:
            async with rt.session() as session:
                row = await service.resolve(
                    session, alert_id=wanted, by=by, now=utcnow(), reason=why
                )
                await lifecycle.commit(session)
                return models.alert_of(row)

        alert = run(work, writes=True)
    if as_json:
        emit_json(alert)
        return
    console().print(f"alert {alert.id}: resolved by {alert.resolved_by}")
