"""The scripted OpenAI-compatible chat server, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic_ai.models import override_allow_model_requests

from tests.agents.openai_server import ScriptedOpenAIServer


@pytest.fixture
def openai_server() -> Iterator[ScriptedOpenAIServer]:
    """A running scripted server; the test fails at teardown if its script failed to answer.

    A test that means the script to fail (to see the 500 it causes) clears `script_errors`.
    """
    with ScriptedOpenAIServer() as server, override_allow_model_requests(True):
        yield server
        errors = list(server.script_errors)
    if errors:
        pytest.fail("the scripted OpenAI server could not answer: " + "; ".join(errors))
