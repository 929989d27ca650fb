"""Liveness, database readiness and Prometheus metrics; no token needed."""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version

import structlog
from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from triadops.api.deps import MetricsDep, RuntimeDep
from triadops.api.schemas import Health
from triadops.constitution.crown.service import is_frozen
from triadops.storage.engine import storage_full

router = APIRouter(tags=["health"])
log = structlog.stdlib.get_logger()
STORAGE_FULL_WINDOW_S = 60.0
"""How long after a write failed for lack of space /health keeps reporting it."""
READINESS_TIMEOUT_S = 5.0
"""A database slower than this to answer counts as unavailable."""


def _version() -> str:
    try:
        return version("triadops")
    except PackageNotFoundError:
        return "unknown"


@router.get(
    "/health",
    operation_id="read_health",
    responses={
        503: {"model": Health, "description": "The database does not answer, or cannot write"}
    },
)
async def health(runtime: RuntimeDep, response: Response) -> Health:
    """Say whether the process is up and its database answers (503 when it does not)."""
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_S), runtime.session(read_only=True) as session:
            frozen = await is_frozen(session)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("database not ready", error=f"{type(exc).__name__}: {exc}")
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(status="unavailable", database="unavailable", frozen=None, version=_version())
    full = storage_full(runtime.engine, within_s=STORAGE_FULL_WINDOW_S)
    if full is not None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(
            status="degraded",
            database="full",
            frozen=frozen,
            version=_version(),
            reason=f"a write failed because storage is full: {full}",
        )
    return Health(status="ok", database="ok", frozen=frozen, version=_version())


@router.get(
    "/metrics",
    operation_id="read_metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(runtime: RuntimeDep, gauges: MetricsDep) -> Response:
    """Expose the pipeline's gauges in the Prometheus text format."""
    async with runtime.session(read_only=True) as session:
        body = await gauges.scrape(session)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
