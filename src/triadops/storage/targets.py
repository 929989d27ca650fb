"""Databases the actions and checks may work on, by name; ``triad`` is triad's own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.domain.errors import InvalidRequest
from triadops.storage.engine import create_engine

OWN_DATABASE = "triad"


class DatabaseTargets:
    """Resolve a target name to an engine, creating other targets' engines lazily."""

    def __init__(self, own: AsyncEngine, urls: dict[str, str]) -> None:
        self._own = own
        self._urls = dict(urls)
        self._engines: dict[str, AsyncEngine] = {}

    def names(self) -> list[str]:
        """All target names, triad's own first."""
        return [OWN_DATABASE, *sorted(self._urls)]

    def get(self, name: str) -> AsyncEngine:
        """Return the engine for `name`, or raise InvalidRequest naming the known targets."""
        if name == OWN_DATABASE:
            return self._own
        if name not in self._urls:
            known = ", ".join(self.names())
            raise InvalidRequest(
                f"unknown database target {name!r} (known: {known})", field="target"
            )
        if name not in self._engines:
            self._engines[name] = create_engine(self._urls[name])
        return self._engines[name]

    async def dispose(self) -> None:
        """Close the engines this resolver opened (never triad's own)."""
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()
