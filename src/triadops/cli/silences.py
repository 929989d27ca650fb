"""``triad silences``: add (or preview), list and expire silences that mute alerts."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError

from triadops.cli.context import (
    AsName,
    BadInput,
    JsonFlag,
    local_identity,
    refuse_as,
    run,
)
from triadops.cli.output import console, emit_json, fitted_table
from triadops.cli.remote import remote
from triadops.cli.views import AlertLine, SilenceLine, labels_text
from triadops.constitution import lifecycle
from triadops.domain.alerts import Matcher, Severity
from triadops.domain.clock import utcnow
from triadops.domain.enums import Authority
from triadops.domain.errors import InvalidRequest
from triadops.domain.identity import Identity
from triadops.domain.operations import as_utc
from triadops.ops.alerts import models, silences
from triadops.runtime import Runtime

silences_app = typer.Typer(help="Add, list and expire silences.", no_args_is_help=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+|\d+(?:\.\d+)?")


def _matcher(text: str) -> Matcher:
    try:
        return Matcher.parse(text)
    except ValidationError as exc:
        why = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise BadInput(f"MATCHER {text!r}: {why}") from None
    except ValueError as exc:
        raise BadInput(f"MATCHER: {exc}") from None


def duration_seconds(text: str) -> float:
    """Read ``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``1w`` or a sum such as ``1h30m``."""
    value = text.strip()
    if not _DURATION.fullmatch(value):
        raise BadInput(f"--duration: {text!r} is not a duration such as 90s, 15m, 2h or 1h30m")
    if value[-1].isdigit():
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", value)
    return sum(float(amount) * _UNITS[unit] for amount, unit in parts)


def _until(text: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        raise BadInput(
            f"--until: {text!r} is not an ISO 8601 time such as 2026-01-31T09:00:00Z"
        ) from None


@silences_app.command("add")
def add(
    matchers: Annotated[
        list[str],
        typer.Argument(metavar="MATCHER...", help="name=value, name!=value, name=~re, name!~re."),
    ],
    duration: Annotated[str | None, typer.Option(help="How long: 90s, 15m, 2h, 1d, 1h30m.")] = None,
    until: Annotated[
        str | None, typer.Option(help="When it ends, ISO 8601 (naive is UTC).")
    ] = None,
    comment: Annotated[str, typer.Option(help="Why; kept on the record.")] = "",
    preview: Annotated[
        bool,
        typer.Option(
            "--preview", help="Only say what it would mute now and who may add it; add nothing."
        ),
    ] = False,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Mute the alerts all MATCHERs select until the silence ends (every silence ends).

    One that can mute an emergency needs the crown; a critical alert, the legislature or
    crown. ``--preview`` lists what it would mute now and the authority it needs.
    """
    by = local_identity(as_name)
    parsed = [_matcher(m) for m in matchers]
    if preview:
        _preview(parsed, by, as_json=as_json)
        return
    if (duration is None) == (until is None):
        raise BadInput("give exactly one of --duration and --until")
    seconds = None if duration is None else duration_seconds(duration)
    ends_at = None if until is None else _until(until)
    if "\x00" in comment or len(comment) > 2000:
        raise BadInput("--comment: at most 2000 characters, no NUL")

    client = remote()
    if client is not None:
        refuse_as(as_name)
        body: dict[str, Any] = {"matchers": [str(m) for m in parsed], "comment": comment}
        if seconds is not None:
            body["duration_s"] = seconds
        if ends_at is not None:
            body["ends_at"] = ends_at.isoformat()
        with closing(client):
            made = client.silence(body)
    else:
        made = _add_here(parsed, by, comment=comment, ends_at=ends_at, seconds=seconds)
    if as_json:
        emit_json(made)
        return
    console().print(f"silence {made.id} until {made.ends_at.isoformat(timespec='seconds')}")


def _add_here(
    parsed: list[Matcher],
    by: Identity,
    *,
    comment: str,
    ends_at: datetime | None,
    seconds: float | None,
) -> SilenceLine:
    """Add the silence in the local database; a refused end or matcher names its flag."""

    async def work(rt: Runtime) -> SilenceLine:
        async with rt.session() as session:
            row = await silences.add_silence(
                session,
                matchers=parsed,
                comment=comment,
                by=by,
                now=utcnow(),
                ends_at=ends_at,
                duration_s=seconds,
                max_duration_s=rt.settings.alerts.max_silence_s,
            )
            await lifecycle.commit(session)
            return models.silence_of(row, now=utcnow())

    try:
        return run(work, creates=True, writes=True)
    except InvalidRequest as exc:
        flag = {"duration_s": "--duration", "ends_at": "--until"}.get(exc.field or "", "MATCHER")
        raise BadInput(f"{flag}: {exc.message.split(': ', 1)[-1]}") from None


class SilencePreviewLine(BaseModel):
    """What a silence would mute now and who may add it (the API's ``SilencePreview``)."""

    severities: list[Severity]
    requires: list[Authority]
    allowed: bool
    matched: int
    alerts: list[AlertLine]


def _preview(parsed: list[Matcher], by: Identity, *, as_json: bool) -> None:
    client = remote()
    if client is not None:
        with closing(client):
            answer = client.call(
                "POST", "/silences/preview", json={"matchers": [str(m) for m in parsed]}
            )
        shown = SilencePreviewLine.model_validate(answer)
    else:

        async def work(rt: Runtime) -> SilencePreviewLine:
            async with rt.session(read_only=True) as session:
                found = await silences.preview_silence(session, matchers=parsed, by=by)
                return SilencePreviewLine(
                    severities=list(found.severities),
                    requires=list(found.requires),
                    allowed=found.allowed,
                    matched=found.matched,
                    alerts=found.alerts,
                )

        try:
            shown = run(work)
        except InvalidRequest as exc:
            raise BadInput(f"MATCHER: {exc.message}") from None
    if as_json:
        emit_json(shown)
        return
    table = fitted_table("id", "state", "severity", "alertname", "labels")
    for a in shown.alerts:
        table.add_row(
            str(a.id), a.state.value, a.severity.value, a.alertname, labels_text(a.labels)
        )
    if shown.alerts:
        console().print(table)
    requires = " or ".join(a.value for a in shown.requires)
    console().print(
        f"would match {shown.matched} unresolved alert(s); can mute "
        f"{', '.join(s.value for s in shown.severities)}; needs {requires}"
    )


@silences_app.command("list")
def list_silences(
    show_all: Annotated[bool, typer.Option("--all", help="Expired and ended ones too.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List silences in force (or all), newest first."""
    client = remote()
    if client is not None:
        with closing(client):
            listed = client.silences(active=not show_all, limit=limit)
    else:

        async def work(rt: Runtime) -> list[SilenceLine]:
            now = utcnow()
            async with rt.session(read_only=True) as session:
                return await models.list_silences(
                    session, now=now, active_only=not show_all, limit=limit
                )

        listed = run(work)
    if as_json:
        emit_json(listed)
        return
    table = fitted_table("id", "matchers", "ends", "by", "state", "comment")
    for s in listed:
        table.add_row(
            s.id,
            ", ".join(str(m) for m in s.matchers),
            s.ends_at.isoformat(timespec="seconds")[:19],
            s.created_by,
            s.state,
            s.comment,
        )
    console().print(table if listed else "no silences")


@silences_app.command("expire")
def expire(
    silence_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """End a silence now; what it muted sounds again unless another silence covers it."""
    by = local_identity(as_name)
    if not re.fullmatch(r"[0-9A-Fa-f-]{1,36}", silence_id):
        raise BadInput(f"ID: {silence_id!r} is not a silence id (a UUID)")

    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            ended = client.expire_silence(silence_id)
    else:

        async def work(rt: Runtime) -> SilenceLine:
            async with rt.session() as session:
                row = await silences.expire_silence(
                    session, silence_id=silence_id, by=by, now=utcnow()
                )
                await lifecycle.commit(session)
                return models.silence_of(row, now=utcnow())

        ended = run(work, writes=True)
    if as_json:
        emit_json(ended)
        return
    console().print(f"silence {ended.id}: expired by {ended.expired_by}")
