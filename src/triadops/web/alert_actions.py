"""Alert decisions posted from the alerts page: acknowledge, silence until an end, expire.

Checked as decisions.py checks its posts (session, CSRF, the API's coarse role gate), then
decided by the same services as the API: an emergency's acknowledgement or silence needs
the crown, a critical alert's silence the legislature or crown, and every silence ends.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from triadops.constitution import lifecycle
from triadops.domain.alerts import Matcher
from triadops.domain.clock import utcnow
from triadops.domain.enums import Role
from triadops.domain.errors import InvalidRequest
from triadops.ops.alerts import service, silences
from triadops.storage.alerts import get_alert
from triadops.web import sessions
from triadops.web.render import read_form, runtime_of

router = APIRouter()

_OPERATORS = (Role.LEGISLATIVE, Role.EXECUTIVE, Role.JUDICIAL, Role.CROWN)
_SILENCERS = (Role.EXECUTIVE, Role.LEGISLATIVE, Role.CROWN)


class SilenceForm(BaseModel):
    """How long the alert's name stays muted, and why."""

    model_config = ConfigDict(extra="ignore")

    hours: float = Field(gt=0, le=24 * 30, allow_inf_nan=False)
    comment: str = Field(default="", max_length=2000)


async def _checked(request: Request, *roles: Role) -> tuple[sessions.Signed, dict[str, str]]:
    signed = await sessions.signed_in(runtime_of(request), request)
    form = await read_form(request)
    sessions.check_csrf(signed, form.get("csrf"))
    sessions.require(signed, *roles)
    return signed, form


def _back(request: Request) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/alerts", status_code=303)


@router.post("/alerts/{alert_id}/ack")
async def acknowledge_alert(request: Request, alert_id: int) -> Response:
    """Acknowledge an alert: its escalation stops; an emergency needs the crown."""
    signed, _ = await _checked(request, *_OPERATORS)
    async with runtime_of(request).session() as session:
        await service.acknowledge(session, alert_id=alert_id, by=signed.identity, now=utcnow())
        await lifecycle.commit(session)
    return _back(request)


@router.post("/alerts/{alert_id}/silence")
async def silence_alert(request: Request, alert_id: int) -> Response:
    """Mute alerts of this one's name and severity for the hours given.

    At most ``alerts.max_silence_s``; an emergency's silence needs the crown, a critical's
    the legislature or crown, as the service decides.
    """
    signed, fields = await _checked(request, *_SILENCERS)
    try:
        form = SilenceForm.model_validate({k: v for k, v in fields.items() if v != ""})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"{field}: {first['msg']}", field=field) from None
    runtime = runtime_of(request)
    now = utcnow()
    async with runtime.session(read_only=True) as session:
        alert = await get_alert(session, alert_id)
    # A fresh session: add_silence matches before its write transaction begins.
    async with runtime.session() as session:
        await silences.add_silence(
            session,
            # Its severity too: a silence that could mute a louder alert of the same name
            # would need a higher authority (silence_policy.NoLouderThanItsAuthority).
            matchers=[
                Matcher(name="alertname", value=alert.alertname),
                Matcher(name="severity", value=alert.severity),
            ],
            comment=form.comment,
            by=signed.identity,
            now=now,
            duration_s=form.hours * 3600,
            max_duration_s=runtime.settings.alerts.max_silence_s,
        )
        await lifecycle.commit(session)
    return _back(request)


@router.post("/silences/{silence_id}/expire")
async def expire_silence(request: Request, silence_id: str) -> Response:
    """End a silence now; what it muted sounds again unless another silence covers it."""
    signed, _ = await _checked(request, *_SILENCERS)
    async with runtime_of(request).session() as session:
        await silences.expire_silence(
            session, silence_id=silence_id, by=signed.identity, now=utcnow()
        )
        await lifecycle.commit(session)
    return _back(request)
