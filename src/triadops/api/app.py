"""Build the FastAPI app: open the runtime, optionally run a worker, mount the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from triadops.api import openapi, problems
from triadops.api.access import AccessLog
from triadops.api.metrics import PipelineMetrics, RequestMetrics
from triadops.api.middleware import (
    ACCESS_LOG_STATE,
    AccessRecords,
    BodyGuard,
    RequestIds,
    ServerErrors,
)
from triadops.api.routes import (
    agents,
    alerts,
    audit,
    backups,
    crown,
    decisions,
    health,
    incidents,
    logs,
    maintenance,
    maintenance_tasks,
    monitoring,
    operations,
    procedures,
    runbooks,
    security,
    sops,
    standards,
    whoami,
)
from triadops.logconfig import configure_logging
from triadops.ops.health.api_errors import RequestCounts
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.settings.logs import secret_values
from triadops.web.app import PREFIX as CONSOLE_PREFIX
from triadops.web.app import create_console

log = structlog.stdlib.get_logger(__name__)


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    run_worker: bool = False,
    probe_every_s: float | None = None,
    probe_timeout_s: float | None = None,
    governs: bool = False,
) -> FastAPI:
    """Return the API app.

    Without `runtime`, the lifespan opens one (applying migrations) and closes it on
    shutdown; a given runtime belongs to the caller. With `run_worker`, a worker drives
    operations in the same process until shutdown. The lifespan checks the database before
    serving and then every `probe_every_s` in the background; /health answers from that
    (both default to the ``health.probe_every_s`` and ``health.probe_timeout_s`` settings).
    With `governs`, the lifespan makes this server's governing settings the database's
    before serving, as ``triad serve`` does (`Runtime.check_governance`).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or await Runtime.open(settings)
        app.state.runtime = rt
        console.state.runtime = rt
        if governs:
            try:
                await _govern(rt)
            except BaseException:
                if runtime is None:  # the one it opened: nobody else will close it
                    await rt.close()
                raise
        probe = _probe(rt, settings, every_s=probe_every_s, timeout_s=probe_timeout_s)
        await probe.start()
        setattr(app.state, health.PROBE_STATE, probe)
        access_log = AccessLog(rt.engine)
        await access_log.start()
        setattr(app.state, ACCESS_LOG_STATE, access_log)
        stop = asyncio.Event()
        worker = (
            asyncio.create_task(rt.work(stop=stop, request_counts=app.state.request_counts))
            if run_worker
            else None
        )
        try:
            yield
        finally:
            stop.set()
            await probe.stop()
            if worker is not None:
                await _stop(worker, grace_s=settings.api_worker_grace_s)
            await access_log.stop()
            if runtime is None:
                await rt.close()

    app = FastAPI(
        title="triadops",
        summary="Operations control plane: every change passes through four separated powers.",
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.metrics = PipelineMetrics()
    app.state.request_counts = RequestCounts()
    problems.install(app)
    openapi.install(app, settings)
    # Added innermost first: a request meets HealthShortcut (which answers GET /health
    # itself), RequestIds, AccessRecords, ServerErrors, BodyGuard, then RequestMetrics, which
    # reads the matched route's template when the answer is done.
    app.add_middleware(RequestMetrics, metrics=app.state.metrics, counts=app.state.request_counts)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ServerErrors)
    app.add_middleware(AccessRecords)
    app.add_middleware(RequestIds)
    app.add_middleware(
        health.HealthShortcut, metrics=app.state.metrics, counts=app.state.request_counts
    )
    for module in (
        health,
        monitoring,
        operations,
        decisions,
        audit,
        crown,
        alerts,
        agents,
        procedures,
        sops,
        runbooks,
        incidents,
        maintenance,
        maintenance_tasks,
        security,
        backups,
        logs,
        standards,
        whoami,
    ):
        app.include_router(module.router)
    # The web console: its own pages, sessions and CSRF checks (`triadops.web`).
    console = create_console()
    app.mount(CONSOLE_PREFIX, console)
    return app


def _probe(
    rt: Runtime, settings: Settings, *, every_s: float | None, timeout_s: float | None
) -> health.DatabaseProbe:
    """The database probe, at the ``health.probe_*`` settings unless told otherwise."""
    return health.DatabaseProbe(
        rt,
        every_s=settings.health.probe_every_s if every_s is None else every_s,
        timeout_s=settings.health.probe_timeout_s if timeout_s is None else timeout_s,
    )


async def _govern(rt: Runtime) -> None:
    """Make this server's governing settings the database's, saying what changed."""
    said = await rt.check_governance(writer=f"triad API on {socket.gethostname()}", adopt=True)
    if said:
        log.warning(said)


async def _stop(worker: asyncio.Task[None], *, grace_s: float) -> None:
    """Give the worker `grace_s` to stop, then cancel it: its last commit stands."""
    try:
        await asyncio.wait_for(asyncio.shield(worker), timeout=grace_s)
    except TimeoutError:
        log.warning("worker did not stop in time; cancelling its pass", grace_s=grace_s)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


def app_from_env() -> FastAPI:
    """Return the app configured from ``triad.toml`` and ``TRIAD_*``, with a worker.

    Started by ``triad serve`` or by uvicorn alone, it adopts its governing settings on start.

    For ``uvicorn triadops.api.app:app_from_env --factory``: the process's logging is set up
    as ``triad serve`` sets it up (JSON lines, no secrets), uvicorn's own loggers included,
    except the access lines of probes that answered 200 (`health.QuietProbes`).
    """
    settings = Settings()
    configure_logging(
        files=settings.logs.open_files(settings.log_dir), secrets=secret_values(settings)
    )
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, health.QuietProbes) for f in access.filters):
        access.addFilter(health.QuietProbes())
    return create_app(settings, run_worker=True, governs=True)
