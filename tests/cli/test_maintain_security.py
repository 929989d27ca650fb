"""``triad maintain security``: an audit run through a real server, its report read back.

The server audits with pip-audit for real, against an OSV service in this process (the one
stand-in: osv.dev cannot be reached from here).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from tests.cli.conftest import Server, Triad, data, one_error_line
from tests.fixtures.osv import OsvService, advisory
from triadops.cli.main import app

PACKAGE = "cachetools"


@pytest.fixture
def osv() -> Iterator[OsvService]:
    held = {PACKAGE: [advisory("GHSA-cli-0001", PACKAGE, fixed="999.0", aliases=[])]}
    service = OsvService(advisories=held)
    asyncio.run(service.start())
    try:
        yield service
    finally:
        asyncio.run(service.stop())


@pytest.fixture
def server_env(osv: OsvService) -> dict[str, str]:
    return {
        "TRIAD_SECURITY__OSV_URL": osv.url("/v1/query"),
        "TRIAD_SECURITY__OS_UPDATES": "false",
    }


def test_none_yet_is_one_line(triad: Triad) -> None:
    assert "no security report yet" in one_error_line(triad("maintain", "security"))


def test_an_audit_through_the_server_then_its_report_here_and_there(
    both: tuple[CliRunner, dict[str, str], dict[str, str]], server: Server
) -> None:
    runner, local, remote = both
    submitted = runner.invoke(
        app,
        ["ops", "submit", "--procedure", "security_updates", "--wait", "--json"],
        env=remote,
    )
    done = data(submitted)
    assert done["status"] == "completed", done
    (step,) = done["steps"]
    assert step["action"] == "security.audit" and step["output"]["status"] == "findings"

    there = runner.invoke(app, ["maintain", "security", "--json"], env=remote)
    here = runner.invoke(app, ["maintain", "security", "--json"], env=local)
    assert there.exit_code == here.exit_code == 0
    assert json.loads(there.stdout) == json.loads(here.stdout)
    report = json.loads(there.stdout)
    assert report["operation_id"] == done["operation_id"]
    assert [v["package"] for v in report["python"]["vulnerable"]] == [PACKAGE]

    table = runner.invoke(app, ["maintain", "security"], env=local)
    assert "GHSA-cli-0001" in table.stdout and "999.0" in table.stdout
