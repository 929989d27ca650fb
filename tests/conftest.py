"""Shared fixtures: real SQLite files and real PostgreSQL databases, one fresh per test."""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.pipeline",
    "tests.fixtures.api",
    "tests.fixtures.clock",
    "tests.fixtures.sshd",
    "tests.fixtures.walkthrough",
    "tests.fixtures.s3",
]

# No test talks to a paid model: pydantic-ai refuses any real model request unless a test
# points it at the local scripted server (the `openai_server` fixture allows it there).
from pydantic_ai import models  # noqa: E402

models.ALLOW_MODEL_REQUESTS = False

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render CLI tables as wide as output that reaches no terminal (`output.PIPED_WIDTH`).

    pytest-xdist's workers inherit ``COLUMNS=80``, which would fold table cells in some runs
    and not others; the tests of narrow terminals set their own width.
    """
    monkeypatch.setenv("COLUMNS", "200")
