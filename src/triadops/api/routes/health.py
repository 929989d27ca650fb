"""Liveness from a background probe, readiness checked now, Prometheus metrics; no token needed.

``/health`` (liveness) answers from the database's last probe, taken in the background every
`PROBE_EVERY_S`: it costs no database round trip, so a load balancer or a monitor polling it
adds nothing to the database's load, and it answers while the database is slow. ``/ready``
(readiness, for load balancers) checks the database on each call, within `PROBE_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Receive, Scope, Send

from triadops.api.deps import MetricsDep, RuntimeDep
from triadops.api.metrics import PipelineMetrics
from triadops.api.middleware import request_id_header
from triadops.api.schemas import Health
from triadops.constitution.crown.service import is_frozen
from triadops.domain.clock import utcnow
from triadops.ops.health.api_errors import RequestCounts
from triadops.runtime import Runtime
from triadops.storage.engine import storage_full

router = APIRouter(tags=["health"])
log = structlog.stdlib.get_logger()
STORAGE_FULL_WINDOW_S = 60.0
"""How long after a write failed for lack of space /health keeps reporting it."""
PROBE_EVERY_S = 2.0
"""How often the background probe checks the database: /health's answer is at most this old."""
PROBE_TIMEOUT_S = 5.0
"""A database slower than this to answer counts as unavailable."""
PROBE_STATE = "health_probe"
"""Key of the app's state under which the lifespan leaves its `DatabaseProbe`."""
_JSON = "application/json"
_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": Health, "description": "The database does not answer, or cannot write"}
}


def _version() -> str:
    try:
        return version("triadops")
    except PackageNotFoundError:
        return "unknown"


VERSION = _version()
"""The installed version, looked up once: the lookup reads package metadata from disk."""


@dataclass(frozen=True, slots=True)
class Probe:
    """One check of the database, with its answer rendered once for every caller."""

    health: Health
    body: bytes
    status_code: int
    raw_headers: tuple[tuple[bytes, bytes], ...]
    """The headers `response` sends, as ASGI pairs, for the shortcut that sends them itself."""

    @classmethod
    def of(cls, health: Health) -> Probe:
        """Render `health` as the JSON body and status /health and /ready send."""
        code = status.HTTP_200_OK if health.status == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
        body = health.model_dump_json().encode()
        headers = ((b"content-length", str(len(body)).encode()), (b"content-type", _JSON.encode()))
        return cls(health, body, code, headers)

    def response(self) -> Response:
        """Answer with this probe's rendered body and status."""
        return Response(self.body, status_code=self.status_code, media_type=_JSON)


class DatabaseProbe:
    """Check the database in the background and keep the last answer for /health.

    One check at a time: /ready and the background loop share the check in flight, so a flood
    of /ready calls costs the database one query at a time, never a connection per caller.
    """

    def __init__(self, runtime: Runtime, *, every_s: float, timeout_s: float) -> None:
        self.runtime = runtime
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.last: Probe | None = None
        self._checking: asyncio.Task[Probe] | None = None
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check once (so /health never answers before a check), then every `every_s`."""
        await self.check()
        self._loop = asyncio.create_task(self._probe_forever(), name="health probe")

    async def stop(self) -> None:
        """Stop probing. A check only reads, so one in flight is cancelled, not awaited."""
        for task in (self._loop, self._checking):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def check(self) -> Probe:
        """Check the database now, or join the check already in flight, and keep the answer."""
        if self._checking is None or self._checking.done():
            self._checking = asyncio.create_task(self._check(), name="health check")
        # Shielded: a caller that goes away must not cancel the check others are waiting on.
        return await asyncio.shield(self._checking)

    def answer(self, probe: Probe | None = None) -> Response:
        """Answer /health (from the last probe) or /ready (from `probe`) without the database."""
        return self.current(probe).response()

    def current(self, probe: Probe | None = None) -> Probe:
        """Return `probe` (else the last one), degraded if a write lately found storage full.

        A write that failed for lack of space is known in memory (`storage_full`), so a full
        disk shows at once rather than at the next probe.
        """
        probe = probe or self.last
        assert probe is not None, "the lifespan takes the first probe before serving"
        full = storage_full(self.runtime.engine, within_s=STORAGE_FULL_WINDOW_S)
        if full is None or probe.health.database != "ok":
            return probe
        degraded = probe.health.model_copy(
            update={
                "status": "degraded",
                "database": "full",
                "reason": f"a write failed because storage is full: {full}",
            }
        )
        return Probe.of(degraded)

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self.check()

    async def _check(self) -> Probe:
        was_ok = self.last is None or self.last.health.database == "ok"
        try:
            async with (
                asyncio.timeout(self.timeout_s),
                self.runtime.session(read_only=True) as session,
            ):
                frozen = await is_frozen(session)
        # Whatever stops the check (refused, dropped, timed out, a driver's own error), the
        # database is not usable from here; the background loop must outlive it.
        except Exception as exc:
            if was_ok:
                log.warning("database not ready", error=f"{type(exc).__name__}: {exc}")
            kind = "did not answer in time" if isinstance(exc, TimeoutError) else "did not answer"
            health = Health(
                status="unavailable",
                database="unavailable",
                frozen=None,
                version=VERSION,
                reason=f"the database {kind} ({type(exc).__name__})",
                checked_at=utcnow(),
            )
        else:
            if not was_ok:
                log.info("database ready again")
            health = Health(
                status="ok", database="ok", frozen=frozen, version=VERSION, checked_at=utcnow()
            )
        self.last = Probe.of(health)
        return self.last


class HealthShortcut:
    """Answer ``GET /health`` before the other middlewares and the router, counted as before.

    /health is polled by monitors and costs nothing but its answer, so the request id,
    error and body middlewares and FastAPI's routing were most of its CPU. The answer is the
    route's own (`DatabaseProbe.current`, same body, status and headers, with the
    ``X-Request-ID`` that `RequestIds` would add), and it is counted in
    ``triad_http_requests_total`` and the duration histogram under the ``/health`` template,
    and in the API's error-rate counts, as a routed request is. Registered outermost.
    """

    PATH = "/health"

    def __init__(
        self, app: ASGIApp, *, metrics: PipelineMetrics, counts: RequestCounts | None = None
    ) -> None:
        self.app = app
        self.counts = counts
        self._duration = metrics.http_duration.labels(self.PATH)
        self._requests = metrics.http_requests
        self._by_status: dict[int, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        probe: DatabaseProbe | None
        if (
            scope["type"] != "http"
            or scope["path"] != self.PATH
            or scope["method"] != "GET"
            or (probe := getattr(scope["app"].state, PROBE_STATE, None)) is None
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = probe.current()
        code = answer.status_code
        headers = [*answer.raw_headers, request_id_header(scope)]
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        counter = self._by_status.get(code)
        if counter is None:
            counter = self._by_status[code] = self._requests.labels(self.PATH, "GET", str(code))
        counter.inc()
        self._duration.observe(time.perf_counter() - started)
        if self.counts is not None:
            self.counts.count(code)


class QuietProbes(logging.Filter):
    """Drop uvicorn's access line for a /health or /ready that answered 200.

    A load balancer or monitor polls these every second or so: their successes would drown
    the log and cost a formatted, scrubbed JSON line each, more than the answer itself.
    Failures are still logged.
    """

    PATHS = frozenset({"/health", "/ready"})

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but a probe's success."""
        args = record.args
        # uvicorn.access logs (client, method, path with query, http version, status).
        if isinstance(args, tuple) and len(args) == 5:
            return not (args[2] in self.PATHS and args[4] == status.HTTP_200_OK)
        return True


def _probe(request: Request) -> DatabaseProbe:
    probe: DatabaseProbe = getattr(request.app.state, PROBE_STATE)
    return probe


# No dependencies on these two: FastAPI runs a plain `def` dependency (get_runtime) in its
# threadpool, which costs more than the whole answer.
@router.get("/health", operation_id="read_health", response_model=Health, responses=_NOT_READY)
async def health(request: Request) -> Response:
    """Say whether the process is up and how its database answered the last probe.

    503 when that probe got no answer or a write lately failed for lack of space. The probe
    runs every few seconds in the background (``checked_at`` says when): this costs the
    database nothing. Load balancers should use ``/ready``.
    """
    return _probe(request).answer()


@router.get("/ready", operation_id="read_readiness", response_model=Health, responses=_NOT_READY)
async def ready(request: Request) -> Response:
    """Check the database now, within a timeout: 200 when it answers, 503 when it does not.

    For load balancers. Concurrent calls share one check in flight.
    """
    probe = _probe(request)
    return probe.answer(await probe.check())


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
