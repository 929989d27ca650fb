"""The token bucket per principal: refill, refusals that take nothing, when to come back."""

from __future__ import annotations

from triadops.api.ratelimit import MAX_KEYS, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=20, burst=100, clock=clock)
    assert buckets.take("judge", 100) == 0
    assert buckets.take("judge", 10) == 0.5, "10 tokens at 20 a second"
    clock.now += 0.25
    assert buckets.take("judge", 10) == 0.25, "a refusal takes nothing: 5 there, 5 to come"
    clock.now += 0.25
    assert buckets.take("judge", 10) == 0
    clock.now += 3600
    assert buckets.take("judge", 100) == 0, "never more than the burst"
    assert buckets.take("judge", 1) == 0.05


def test_each_principal_has_its_own_bucket() -> None:
    buckets = TokenBuckets(rate_per_s=1, burst=5, clock=Clock())
    assert buckets.take("judge", 5) == 0
    assert buckets.take("judge") > 0
    assert buckets.take("carol", 5) == 0


def test_idle_principals_are_forgotten_once_the_buckets_are_many() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=1, burst=5, clock=clock)
    buckets.take("judge", 5)
    for n in range(MAX_KEYS - 1):
        buckets.take(f"p{n}")
    clock.now += 10  # every bucket is full again
    buckets.take("newcomer")
    assert len(buckets) == 1
