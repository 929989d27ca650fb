"""Action contexts over a real runtime or over plain settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog

from triadops.actions.base import ActionContext
from triadops.settings import Settings
from triadops.storage.engine import create_engine
from triadops.storage.targets import DatabaseTargets


def action_context(settings: Settings, databases: DatabaseTargets, step: int = 0) -> ActionContext:
    """Build the context the executive would hand to step `step` of a test operation."""
    return ActionContext(
        settings=settings,
        databases=databases,
        operation_id="op-test",
        step_index=step,
        idempotency_key=f"op-test:{step}",
        log=structlog.get_logger().bind(operation_id="op-test"),
    )


@pytest.fixture
async def file_context(tmp_path: Path) -> AsyncIterator[ActionContext]:
    """A context for file actions: a private home, and a SQLite engine that is never used."""
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home=home, database_url=f"sqlite+aiosqlite:///{home / 'triad.db'}")
    engine = create_engine(settings.resolved_database_url)
    try:
        yield action_context(settings, DatabaseTargets(engine, {}))
    finally:
        await engine.dispose()
