"""Alerts and silences: list, show, acknowledge, resolve; inbound alerts (own and Alertmanager)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from triadops.api.alert_schemas import (
    AlertDetail,
    AlertIdPath,
    AlertPage,
    AlertQuery,
    AlertView,
    IngestAnswer,
    ResolveAlertBody,
    SilenceBody,
    SilenceIdPath,
    SilenceList,
    SilencePreview,
    SilencePreviewBody,
    SilenceView,
)
from triadops.api.deps import (
    AlertRateLimitDep,
    Operator,
    ReadSessionDep,
    RuntimeDep,
    SessionDep,
    Viewer,
    holding,
)
from triadops.api.schemas import problems
from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertIn
from triadops.domain.clock import utcnow
from triadops.domain.enums import Authority, Role
from triadops.domain.identity import Identity
from triadops.ops.alerts import models, service, silences
from triadops.ops.alerts.inbound import AlertmanagerPayload, AlertPost, posted_alerts

router = APIRouter(tags=["alerts"], responses=problems(401))

Silencer = Annotated[Identity, Depends(holding(Role.EXECUTIVE, Role.LEGISLATIVE, Role.CROWN))]
"""May add and expire silences."""
WRITES = problems(403, 409, 413, 422)


async def _ingest(
    alerts: list[AlertIn], *, source: str, identity: Identity, session: SessionDep, rt: RuntimeDep
) -> IngestAnswer:
    result = await service.ingest(
        session,
        alerts,
        source=source,
        now=utcnow(),
        settings=rt.settings.alerts,
        by=identity.name,
        crown=identity.holds(Authority.CROWN),
    )
    await lifecycle.commit(session)
    return IngestAnswer.of(result)


@router.post("/alerts", operation_id="post_alerts", responses=WRITES | problems(429))
async def post_alerts(
    body: AlertPost,
    identity: Operator,
    session: SessionDep,
    runtime: RuntimeDep,
    rate_limit: AlertRateLimitDep,
) -> IngestAnswer:
    """Raise alerts in triad's format: one alert, or ``{"alerts": [...]}`` (up to 1000).

    A repeat of an unresolved alert (same labels) raises its count; only the principal that
    raised an alert may change its annotations or end, or resolve it (``status: resolved``,
    or an ``ends_at`` past), and an emergency only with the crown: a refused resolution
    changes nothing and is counted in ``refused``. The batch is stored in one transaction.
    Each principal may post ``alerts.rate_limit_per_s`` alerts a second (burst
    ``alerts.rate_limit_burst``); past that, 429 with ``Retry-After``.
    """
    alerts = posted_alerts(body)
    rate_limit.check(identity.name, len(alerts))  # one token per alert, per principal
    return await _ingest(alerts, source="api", identity=identity, session=session, rt=runtime)


@router.post("/alerts/alertmanager", operation_id="post_alertmanager_alerts", responses=WRITES)
async def post_alertmanager(
    body: AlertmanagerPayload, identity: Operator, session: SessionDep, runtime: RuntimeDep
) -> IngestAnswer:
    """Take Alertmanager's webhook (version 4): firing and resolved alerts, up to 1000.

    Point an Alertmanager receiver's ``webhook_configs`` here, with this token as its
    ``http_config.authorization.credentials``. Alertmanager's resolutions end only the alerts
    this token's principal raised, and an emergency only if it holds the crown.
    """
    alerts = body.to_alerts()
    return await _ingest(
        alerts, source="alertmanager", identity=identity, session=session, rt=runtime
    )


@router.get("/alerts", operation_id="list_alerts", responses=problems(422))
async def list_alerts(
    identity: Viewer, session: ReadSessionDep, query: Annotated[AlertQuery, Query()]
) -> AlertPage:
    """List alerts, newest first, optionally by state and severity; page by cursor."""
    found = await models.list_alerts(
        session,
        states=query.state or (),
        severities=query.severity or (),
        before=query.cursor,
        limit=query.limit,
    )
    full = len(found) == query.limit
    return AlertPage(
        items=[AlertView.of(alert) for alert in found],
        limit=query.limit,
        next_cursor=found[-1].id if full else None,
    )


@router.get("/alerts/{alert_id}", operation_id="read_alert", responses=problems(404, 422))
async def read_alert(
    alert_id: AlertIdPath, identity: Viewer, session: ReadSessionDep
) -> AlertDetail:
    """Read one alert with its group's deliveries and its ledger entries."""
    return AlertDetail.build(await models.alert_history(session, alert_id))


@router.post(
    "/alerts/{alert_id}/ack",
    operation_id="acknowledge_alert",
    responses=problems(403, 404, 409, 413, 422),
)
async def acknowledge_alert(
    alert_id: AlertIdPath, identity: Operator, session: SessionDep
) -> AlertView:
    """Acknowledge an alert: its escalation stops; an emergency needs the crown."""
    row = await service.acknowledge(session, alert_id=alert_id, by=identity, now=utcnow())
    await lifecycle.commit(session)
    return AlertView.of(models.alert_of(row))


@router.post(
    "/alerts/{alert_id}/resolve",
    operation_id="resolve_alert",
    responses=problems(403, 404, 409, 413, 422),
)
async def resolve_alert(
    alert_id: AlertIdPath,
    identity: Operator,
    session: SessionDep,
    body: ResolveAlertBody | None = None,
) -> AlertView:
    """Resolve an alert by hand; raised again, it opens a new alert."""
    reason = body.reason if body is not None else None
    row = await service.resolve(
        session, alert_id=alert_id, by=identity, now=utcnow(), reason=reason
    )
    await lifecycle.commit(session)
    return AlertView.of(models.alert_of(row))


@router.get("/silences", operation_id="list_silences", tags=["silences"], responses=problems(422))
async def list_silences(
    identity: Viewer,
    session: ReadSessionDep,
    active: Annotated[bool, Query(description="Only those in force now.")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SilenceList:
    """List silences, newest first: those in force, or all with ``active=false``."""
    now = utcnow()
    found = await models.list_silences(session, now=now, active_only=active, limit=limit)
    return SilenceList(items=[SilenceView.of(silence) for silence in found])


@router.post(
    "/silences",
    operation_id="create_silence",
    tags=["silences"],
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 413, 422),
)
async def create_silence(
    body: SilenceBody, identity: Silencer, session: SessionDep, runtime: RuntimeDep
) -> SilenceView:
    """Mute the alerts the matchers select, until it ends (at most ``alerts.max_silence_s``).

    One that can mute an emergency needs the crown; one that can mute a critical alert,
    the legislature or crown (``POST /silences/preview`` says which, and what it mutes).
    """
    now = utcnow()
    row = await silences.add_silence(
        session,
        matchers=body.matchers,
        comment=body.comment,
        by=identity,
        now=now,
        ends_at=body.ends_at,
        duration_s=body.duration_s,
        max_duration_s=runtime.settings.alerts.max_silence_s,
    )
    await lifecycle.commit(session)
    return SilenceView.of(models.silence_of(row, now=now))


@router.post(
    "/silences/preview",
    operation_id="preview_silence",
    tags=["silences"],
    responses=problems(413, 422),
)
async def preview_silence(
    body: SilencePreviewBody, identity: Viewer, session: ReadSessionDep
) -> SilencePreview:
    """Say what a silence would mute now and which authority may add it; add nothing."""
    preview = await silences.preview_silence(session, matchers=body.matchers, by=identity)
    return SilencePreview.of(preview)


@router.post(
    "/silences/{silence_id}/expire",
    operation_id="expire_silence",
    tags=["silences"],
    responses=problems(403, 404, 409, 413, 422),
)
async def expire_silence(
    silence_id: SilenceIdPath, identity: Silencer, session: SessionDep
) -> SilenceView:
    """End a silence now; what it muted sounds again unless another silence covers it."""
    now = utcnow()
    row = await silences.expire_silence(session, silence_id=silence_id, by=identity, now=now)
    await lifecycle.commit(session)
    return SilenceView.of(models.silence_of(row, now=now))
