"""Databases' round trips and HTTP targets' answers, each target a collector of its own.

One collector per target: a database or a service that hangs makes its own check unknown
and leaves the others' standing. Targets are named by their configured names only; their
URLs (which may carry credentials) never reach a check.
"""

from __future__ import annotations

import time

import httpx
from sqlalchemy.exc import SQLAlchemyError

from triadops import httpclient
from triadops.domain.health import CheckStatus, HealthCheck
from triadops.ops.health.collectors import Collector, Reading
from triadops.ops.health.report import at_most
from triadops.storage.maintenance import round_trips_s
from triadops.storage.targets import DatabaseTargets

DATABASE_COMPONENT = "database"
TARGETS_COMPONENT = "targets"
SERVER_ERROR = 500
"""A target answering with this status or above is down; below it (4xx included) it is up.

A 401 or 404 still shows the service answering; whether the answer is right is a check's
business, not a liveness probe's."""


class DatabaseCollector(Collector):
    """The round trip of one ``SELECT 1`` on one configured database (``triad`` included)."""

    def __init__(self, databases: DatabaseTargets, target: str, *, threshold_s: float) -> None:
        self.databases = databases
        self.target = target
        self.threshold_s = threshold_s
        self.name = f"database {target}"

    def planned(self) -> list[HealthCheck]:
        """One latency check."""
        return [
            HealthCheck(
                name=f"database.{self.target}.latency_s",
                component=DATABASE_COMPONENT,
                status=CheckStatus.UNKNOWN,
                threshold=self.threshold_s,
                unit="s",
                system=self.target,
                alertname="DatabaseSlow",
                threshold_key="response_time_s",
            )
        ]

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        """Time one round trip on a pooled connection (opening one is not timed)."""
        (check,) = self.planned()
        try:
            engine = self.databases.get(self.target)
            (latency,) = await round_trips_s(engine, samples=1)
        # A database that refuses or drops the connection is down: a failed check, not an
        # unknown one. Only the error's kind is shown: a driver's message may name the host.
        except (SQLAlchemyError, OSError) as exc:
            return [_down(check, "DatabaseDown", f"no answer ({type(exc).__name__})")]
        status = at_most(latency, self.threshold_s)
        return [check.model_copy(update={"status": status, "value": round(latency, 6)})]


def _down(check: HealthCheck, alertname: str, detail: str) -> HealthCheck:
    return check.model_copy(
        update={"status": CheckStatus.FAIL, "alertname": alertname, "detail": detail}
    )


class HttpTargetCollector(Collector):
    """One GET of a configured service: up when it answers below 500 within the threshold."""

    def __init__(self, target: str, url: str, *, threshold_s: float) -> None:
        self.target = target
        self._url = url
        self.threshold_s = threshold_s
        self.name = f"target {target}"

    def __repr__(self) -> str:
        return f"HttpTargetCollector({self.target!r})"

    def planned(self) -> list[HealthCheck]:
        """One check: the answer's time, failed by a 5xx, no answer or a slow one."""
        return [
            HealthCheck(
                name=f"target.{self.target}.response_s",
                component=TARGETS_COMPONENT,
                status=CheckStatus.UNKNOWN,
                threshold=self.threshold_s,
                unit="s",
                system=self.target,
                alertname="TargetDown",
                threshold_key="response_time_s",
            )
        ]

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        """GET the URL once, redirects not followed, within the response-time threshold."""
        (check,) = self.planned()
        started = time.perf_counter()
        try:
            async with httpclient.client(timeout=self.threshold_s) as client:
                response = await client.get(self._url)
        except httpx.TimeoutException:
            detail = f"no answer within {self.threshold_s:g} s"
            return [_down(check, "TargetSlow", detail)]
        # Only the error's kind: httpx's messages may quote the URL, credentials and all.
        except httpx.HTTPError as exc:
            return [_down(check, "TargetDown", f"no answer ({type(exc).__name__})")]
        elapsed = round(time.perf_counter() - started, 6)
        answered = f"HTTP {response.status_code}"
        if response.status_code >= SERVER_ERROR:
            failed = _down(check, "TargetDown", answered)
            return [failed.model_copy(update={"value": elapsed})]
        status = at_most(elapsed, self.threshold_s)
        alertname = "TargetSlow" if status is CheckStatus.FAIL else check.alertname
        return [
            check.model_copy(
                update={
                    "status": status,
                    "value": elapsed,
                    "detail": answered,
                    "alertname": alertname,
                }
            )
        ]
