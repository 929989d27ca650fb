"""Shared fixtures: real SQLite files and real PostgreSQL databases, one fresh per test."""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.pipeline",
    "tests.fixtures.api",
    "tests.fixtures.clock",
]

# No test talks to a paid model: pydantic-ai refuses any real model request unless a test
# points it at the local scripted server (the `openai_server` fixture allows it there).
from pydantic_ai import models  # noqa: E402

models.ALLOW_MODEL_REQUESTS = False
