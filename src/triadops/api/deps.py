"""Every FastAPI dependency, as an ``Annotated`` alias: runtime, session, identity, roles.

All are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a
thread hop per request for what is only an attribute read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.api.metrics import PipelineMetrics
from triadops.api.ratelimit import AlertRateLimit
from triadops.constitution.crown.tokens import authenticate
from triadops.constitution.powers import Powers
from triadops.domain.enums import Role
from triadops.domain.errors import Forbidden, Unauthenticated
from triadops.domain.identity import Identity
from triadops.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """Return the runtime the app's lifespan opened."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_metrics(request: Request) -> PipelineMetrics:
    """Return the app's own Prometheus gauges."""
    metrics: PipelineMetrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[PipelineMetrics, Depends(get_metrics)]


async def get_alert_rate_limit(request: Request, runtime: RuntimeDep) -> AlertRateLimit:
    """Return the app's rate limit on raised alerts, made from the settings on first use."""
    limit: AlertRateLimit | None = getattr(request.app.state, "alert_rate_limit", None)
    if limit is None:
        settings = runtime.settings.alerts
        limit = AlertRateLimit(
            rate_per_s=settings.rate_limit_per_s,
            burst=settings.rate_limit_burst,
            registry=request.app.state.metrics.registry,
        )
        request.app.state.alert_rate_limit = limit
    return limit


AlertRateLimitDep = Annotated[AlertRateLimit, Depends(get_alert_rate_limit)]


async def get_powers(runtime: RuntimeDep) -> Powers:
    """Return the means the constitution's branches work with."""
    return runtime.powers


PowersDep = Annotated[Powers, Depends(get_powers)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """Yield the request's one session; the route commits through lifecycle.commit."""
    async with runtime.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """Yield a session that only reads (on SQLite it never waits for a writer)."""
    async with runtime.session(read_only=True) as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]

_bearer = HTTPBearer(auto_error=False, description="A token issued by `triad token create`.")


IDENTITY_STATE = "identity"
"""Key of the request's state under which `middleware.BodyGuard` leaves the identity it found."""


async def identify(runtime: Runtime, token: str | None) -> Identity:
    """Return who `token` stands for, or raise Unauthenticated (401).

    The token is checked in a read-only session of its own, returned to the pool at once,
    so a request waiting on a group commit never holds a connection it does not use.
    """
    if token is None:
        raise Unauthenticated("an 'Authorization: Bearer <token>' header is required")
    async with runtime.session(read_only=True) as session:
        return await authenticate(session, token)


async def get_identity(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """Return who the bearer token stands for, or raise Unauthenticated (401).

    A request that may carry a body had its token checked before the body was read
    (`middleware.BodyGuard`); that identity is reused, not looked up a second time.
    """
    checked = request.scope.get("state", {}).get(IDENTITY_STATE)
    if isinstance(checked, Identity):
        return checked
    identity = await identify(runtime, credentials.credentials if credentials else None)
    request.state.identity = identity  # for the record of a refusal (problems.triad_error)
    return identity


CurrentIdentity = Annotated[Identity, Depends(get_identity)]


def holding(*roles: Role) -> Callable[[Identity], Awaitable[Identity]]:
    """Return a dependency that lets through identities holding any of `roles`.

    This is a coarse gate at the edge; the services still check the exact power
    (separation of duties, the authority a request invokes).
    """
    names = " or ".join(r.value for r in roles)

    async def require(identity: CurrentIdentity) -> Identity:
        if not any(role in identity.roles for role in roles):
            raise Forbidden(f"{identity.name} holds none of the roles this needs: {names}")
        return identity

    return require


Viewer = CurrentIdentity
"""Any valid token, the read-only viewer role included."""
Operator = Annotated[
    Identity,
    Depends(holding(Role.LEGISLATIVE, Role.EXECUTIVE, Role.JUDICIAL, Role.CROWN)),
]
"""Any of the four authorities; viewers may only read."""
Maintainer = Annotated[Identity, Depends(holding(Role.EXECUTIVE, Role.LEGISLATIVE))]
"""May submit routine maintenance in its own name (the authorities its procedures allow)."""
Legislator = Annotated[Identity, Depends(holding(Role.LEGISLATIVE, Role.CROWN))]
"""May approve or reject."""
Judge = Annotated[Identity, Depends(holding(Role.JUDICIAL, Role.CROWN))]
"""May rule on an operation in doubt."""
Crown = Annotated[Identity, Depends(holding(Role.CROWN))]
"""May freeze, unfreeze and acknowledge emergencies."""
