"""Triad's in-process caches: cachetools caches with a size, a time to live and statistics.

Each cache is named and registered here, so ``/metrics`` reports its hits and misses
(``triad_cache_hits_total{cache=...}``) and ``cache_cleanup`` has something real to say
about memory as well as files. A cache holds only what can be computed again from its key:
a miss costs time, never correctness.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class CountedCache(Generic[K, V]):
    """A TTL cache that counts its hits and misses; safe to share between threads."""

    name: str
    maxsize: int
    ttl_s: float
    hits: int = 0
    misses: int = 0
    _cache: TTLCache[K, V] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._cache = TTLCache(maxsize=self.maxsize, ttl=self.ttl_s)

    def get_or_compute(self, key: K, compute: Callable[[K], V]) -> V:
        """Return the cached value of `key`, computing and keeping it on a miss."""
        with self._lock:
            if key in self._cache:
                self.hits += 1
                return self._cache[key]
            self.misses += 1
        value = compute(key)  # outside the lock: a slow computation holds no other key
        with self._lock:
            self._cache[key] = value
        return value

    def __len__(self) -> int:
        with self._lock:
            self._cache.expire()
            return len(self._cache)

    def clear(self) -> None:
        """Drop every entry (the counters stay: they count since the start)."""
        with self._lock:
            self._cache.clear()


CACHES: dict[str, CountedCache[Hashable, object]] = {}
"""Every registered cache, by name, for ``/metrics``."""


def counted_cache(name: str, *, maxsize: int, ttl_s: float) -> CountedCache[K, V]:
    """Create a cache and register it under `name` (a name is registered once)."""
    if name in CACHES:
        raise ValueError(f"a cache named {name!r} is registered already")
    cache: CountedCache[K, V] = CountedCache(name=name, maxsize=maxsize, ttl_s=ttl_s)
    CACHES[name] = cache  # type: ignore[assignment]
    return cache
