"""With ``model = "rules"`` no agent framework is imported, let alone run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from triadops.settings import Settings

pytestmark = pytest.mark.slow

CHILD = """
import asyncio, sys
import triadops.cli.main, triadops.api.app
from tests.fixtures.pipeline import request, submit
from triadops.api.app import create_app
from triadops.constitution.driver import drive_once
from triadops.runtime import Runtime
from triadops.settings import Settings

async def main() -> None:
    rt = await Runtime.open(Settings(monitor=False))
    create_app(rt.settings)
    op = await submit(rt, request())
    while await drive_once(rt.powers, owner="w"):
        pass
    await rt.close()
    print("agents:", rt.agents)
    # (opentelemetry's API is FastAPI's own; logfire is tracing, off without an endpoint.)
    framework = ("pydantic_ai", "logfire", "openai", "anthropic", "genai")
    print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in framework
                            or m.startswith(("triadops.agents", "google.genai"))))

asyncio.run(main())
"""


def test_the_rules_path_loads_no_agent_framework(settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAD_", "OTEL_"))} | {
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert "agents: None" in child.stdout
    assert "loaded: []" in child.stdout, child.stdout
