"""In-process caches: a real cachetools TTL cache, counted, reported at ``/metrics``."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.api.test_metrics import parse, value
from tests.fixtures.api import Api
from tests.ops.alerts.test_engine import silence
from triadops.ops.alerts.engine import compile_silences
from triadops.ops.caches import CACHES, CountedCache, counted_cache


def test_hits_and_misses_are_counted_and_entries_expire() -> None:
    cache: CountedCache[str, int] = CountedCache(name="t", maxsize=2, ttl_s=0.2)
    computed: list[str] = []

    def compute(key: str) -> int:
        computed.append(key)
        return len(key)

    assert cache.get_or_compute("ab", compute) == 2
    assert cache.get_or_compute("ab", compute) == 2
    assert (cache.hits, cache.misses, computed) == (1, 1, ["ab"])
    cache.get_or_compute("c", compute)
    cache.get_or_compute("def", compute)  # over maxsize: the least recently used goes
    assert len(cache) == 2
    deadline = time.monotonic() + 5
    while len(cache) and time.monotonic() < deadline:  # the TTL passes: entries expire
        time.sleep(0.05)
    assert len(cache) == 0
    cache.get_or_compute("ab", compute)
    assert computed == ["ab", "c", "def", "ab"]


def test_a_name_is_registered_once() -> None:
    assert "silences" in CACHES
    with pytest.raises(ValueError, match="silences"):
        counted_cache("silences", maxsize=1, ttl_s=1)


async def test_metrics_report_each_cache_hits_and_misses(api: Api) -> None:
    specs = (silence(f"host={uuid.uuid4().hex}"),)  # never compiled before in this process
    before = parse((await api.client.get("/metrics")).text)
    hits = value(before["triad_cache_hits"], "triad_cache_hits_total", cache="silences")
    misses = value(before["triad_cache_misses"], "triad_cache_misses_total", cache="silences")
    compile_silences(specs)
    compile_silences(specs)
    after = parse((await api.client.get("/metrics")).text)
    assert value(after["triad_cache_hits"], "triad_cache_hits_total", cache="silences") == hits + 1
    assert (
        value(after["triad_cache_misses"], "triad_cache_misses_total", cache="silences")
        == misses + 1
    )
    assert value(after["triad_cache_entries"], "triad_cache_entries", cache="silences") >= 1
