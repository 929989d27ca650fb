"""Triad's own API error rate: the share of 5xx answers since the previous check.

Kept simple: the API process counts its requests and server errors in a `RequestCounts`
(in memory, since it started), and the collector that reads it keeps its previous reading,
so each report's figure covers the time since the last report taken in the same process.
A process that serves no API has no counts; it leaves the ``api`` component out of its
reports rather than calling it unknown (which would raise an alert in every worker).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from triadops.domain.health import CheckStatus, HealthCheck
from triadops.ops.health.collectors import Collector, Reading
from triadops.ops.health.report import at_most

COMPONENT = "api"


@dataclass
class RequestCounts:
    """Requests an API process answered, and how many of them were 5xx, since it started."""

    requests: int = 0
    server_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, status_code: int) -> None:
        """Count one answered request with `status_code`."""
        with self._lock:
            self.requests += 1
            if status_code >= 500:
                self.server_errors += 1

    def read(self) -> tuple[int, int]:
        """Return (requests, server_errors) as one consistent pair."""
        with self._lock:
            return self.requests, self.server_errors


class ApiErrorsCollector(Collector):
    """The API's share of 5xx answers since this collector's previous reading."""

    name = "api"

    def __init__(self, counts: RequestCounts, *, threshold: float) -> None:
        self.counts = counts
        self.threshold = threshold
        self._previous = (0, 0)

    def planned(self) -> list[HealthCheck]:
        """One check: the error rate."""
        return [
            HealthCheck(
                name="error_rate",
                component=COMPONENT,
                status=CheckStatus.UNKNOWN,
                threshold=self.threshold,
                system=COMPONENT,
                alertname="TriadApiErrorRateHigh",
                threshold_key="error_rate",
            )
        ]

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        """Take the difference with the previous reading; no requests since then passes."""
        (check,) = self.planned()
        requests, errors = self.counts.read()
        before_requests, before_errors = self._previous
        self._previous = (requests, errors)
        if requests < before_requests:  # the counts were replaced: start again from them
            before_requests, before_errors = 0, 0
        answered = requests - before_requests
        if answered <= 0:
            return [
                check.model_copy(
                    update={
                        "status": CheckStatus.PASS,
                        "detail": "no requests since the last check",
                    }
                )
            ]
        rate = round((errors - before_errors) / answered, 6)
        detail = f"{errors - before_errors} of {answered} requests answered 5xx"
        return [
            check.model_copy(
                update={"status": at_most(rate, self.threshold), "value": rate, "detail": detail}
            )
        ]
