"""The database section: triad's own database and the targets its actions may work on."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


def async_database_url(url: str) -> str:
    """Return `url` naming its async driver, as triad's engines need.

    ``postgresql://`` and ``postgres://`` become ``postgresql+asyncpg://``, ``sqlite:///``
    becomes ``sqlite+aiosqlite:///``; any other URL is returned as given.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


class DatabaseSettings(BaseModel):
    """Triad's own database, and the other databases its actions may work on."""

    database_url: str | None = None
    """SQLAlchemy async URL; default ``sqlite+aiosqlite:///$TRIAD_HOME/triad.db``."""
    database_targets: dict[str, str] = Field(default_factory=dict)
    """Other databases the database actions may work on, by name (``triad`` is triad's own)."""
    retention_tables: dict[str, list[str]] = Field(default_factory=dict)
    """Tables of each configured database target that hold retention data, which
    ``database.purge_audit_logs`` may delete from; on triad's own database only
    ``audit_logs`` ever is, whatever is configured here."""

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        return None if value is None else async_database_url(value)

    @field_validator("database_targets")
    @classmethod
    def _async_drivers(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: async_database_url(url) for name, url in value.items()}
