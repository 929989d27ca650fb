"""With ``model = "rules"`` no agent framework is imported, let alone run."""

from __future__ import annotations

import pytest

from tests.agents.triad import run_child
from triadops.settings import Settings

pytestmark = pytest.mark.slow

CHILD = """
import asyncio, sys
import triadops.cli.main, triadops.api.app
from tests.fixtures.pipeline import request, submit
from triadops.api.app import create_app
from triadops.worker.claims import drive_once
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
    child = run_child(settings, CHILD)
    assert child.returncode == 0, child.stderr
    assert "agents: None" in child.stdout
    assert "loaded: []" in child.stdout, child.stdout
