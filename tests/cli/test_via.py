"""``triad ops show`` names the client an operation came through, beside who asked."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from tests.cli.conftest import Server, data
from tests.fixtures.api import noop_request
from triadops.cli.main import app

pytestmark = pytest.mark.slow


def test_ops_show_names_the_client_locally_and_remotely(
    both: tuple[CliRunner, dict[str, str], dict[str, str]], server: Server
) -> None:
    runner, local, remote = both
    body = {**noop_request(), "operation_id": "op-via", "via": "mcp:claude [bot]"}
    headers = {"Authorization": f"Bearer {server.token}"}
    posted = httpx.post(f"{server.url}/operations", json=body, headers=headers, timeout=30)
    assert posted.status_code == 201, posted.text
    for env in (local, remote):
        shown = runner.invoke(app, ["ops", "show", "op-via"], env=env, catch_exceptions=False)
        assert shown.exit_code == 0, shown.output
        assert "requested by ops at" in shown.stdout
        assert "via: mcp:claude [bot]\n" in shown.stdout  # as text, never Rich markup
        found = runner.invoke(app, ["ops", "show", "op-via", "--json"], env=env)
        assert data(found)["via"] == "mcp:claude [bot]"
