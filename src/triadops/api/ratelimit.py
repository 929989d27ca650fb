"""Token buckets per principal: how fast one principal may raise alerts through the API.

Each principal's bucket holds up to `burst` tokens and refills at `rate_per_s`; each alert
of a post takes one. The buckets live in this process's memory, keyed by the principal's
normalised name (each replica counts its own), and a full bucket is the same as none, so
idle principals are forgotten and memory follows the principals posting now.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from triadops.domain.errors import InvalidRequest, RateLimited

MAX_KEYS = 10_000
"""Buckets kept before the full ones are dropped (a full bucket equals a fresh one)."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per key: `burst` tokens at most, refilled at `rate_per_s`."""

    def __init__(
        self, *, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, cost: int = 1) -> float:
        """Take `cost` tokens from `key`'s bucket; return 0, or the seconds until they are there.

        A refusal takes nothing. A cost above the burst waits for a full bucket and still
        cannot be met; callers keep their batches within the burst.
        """
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if cost <= bucket.tokens:
            bucket.tokens -= cost
            return 0.0
        return (min(cost, self.burst) - bucket.tokens) / self.rate_per_s

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate_per_s >= self.burst:
                del self._buckets[key]


class AlertRateLimit:
    """The rate limit on ``POST /alerts``: one bucket per principal, refusals counted."""

    def __init__(self, *, rate_per_s: float, burst: int, registry: CollectorRegistry) -> None:
        self.buckets = TokenBuckets(rate_per_s=rate_per_s, burst=burst)
        self.refused = Counter(
            "triad_alerts_rate_limited",
            "Posts of alerts refused (429) because their principal was over its rate limit.",
            registry=registry,
        )

    def check(self, principal: str, alerts: int) -> None:
        """Take one token per alert from `principal`'s bucket, or raise RateLimited (429)."""
        if alerts > self.buckets.burst:
            raise InvalidRequest(
                f"a post may carry at most {self.buckets.burst} alerts here (the rate "
                f"limit's burst); send {alerts} in smaller posts",
                field="alerts",
            )
        wait_s = self.buckets.take(principal, alerts)
        if wait_s <= 0:
            return
        self.refused.inc()
        retry_after_s = max(1, math.ceil(wait_s))
        raise RateLimited(
            f"{principal} is over its rate limit of {self.buckets.rate_per_s:g} alerts a "
            f"second (burst {self.buckets.burst}); retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )
