"""``triad backup restore ID --to TARGET``: the governed restore from the command line.

``--as`` names the local operator: it never lends a power the pipeline would refuse (the
requester still cannot approve what they asked, under any authority).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli.conftest import Triad, data, one_error_line
from tests.fixtures.targets import ORDERS, drop_shop, execute, make_shop, orders
from triadops.cli.main import app


@pytest.fixture
def shop_url(
    database_url: str, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    dialect = "sqlite" if database_url.startswith("sqlite") else "pg"
    url = asyncio.run(make_shop(dialect, tmp_path))
    monkeypatch.setenv("TRIAD_DATABASE_TARGETS", json.dumps({"shop": url}))
    yield url
    asyncio.run(drop_shop(url))


def test_a_restore_from_the_command_line(triad: Triad, shop_url: str) -> None:
    made = data(triad("backup", "run", "database", "--target", "shop", "--wait", "--json"))
    assert made["status"] == "completed", made["status_reason"]
    backup_id = made["steps"][0]["output"]["backup_id"]
    asyncio.run(execute(shop_url, "DELETE FROM orders WHERE id > 2"))

    asked = data(triad("backup", "restore", backup_id, "--to", "shop", "--as", "mallory", "--json"))
    op_id = asked["operation_id"]
    assert asked["status"] == "awaiting_approval"
    assert asked["planning_result"]["required_approvals"] == ["legislative", "crown"]
    refused = triad("ops", "approve", op_id, "--authority", "crown", "--as", "mallory", "--json")
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    last = refused.stderr.splitlines()[-1]  # after the plan it shows on stderr
    assert last == f"error: mallory requested {op_id} and cannot approve it"
    assert data(triad("ops", "approve", op_id, "--as", "bob", "--json"))["status"] == (
        "awaiting_approval"
    )
    assert asyncio.run(orders(shop_url)) == 3

    done = data(
        triad("ops", "approve", op_id, "--authority", "crown", "--as", "carol", "--wait", "--json")
    )
    assert done["status"] == "completed", done["status_reason"]
    assert asyncio.run(orders(shop_url)) == ORDERS


def test_restore_refusals_are_one_line(triad: Triad, shop_url: str) -> None:
    made = data(triad("backup", "run", "database", "--wait", "--json"))
    backup_id = made["steps"][0]["output"]["backup_id"]
    own = one_error_line(triad("backup", "restore", backup_id, "--to", "triad"))
    assert "triad's own database cannot be restored" in own
    assert "no backup 'nope'" in one_error_line(triad("backup", "restore", "nope", "--to", "shop"))
    assert "nowhere" in one_error_line(triad("backup", "restore", backup_id, "--to", "nowhere"))
    assert triad("backup", "restore", backup_id).exit_code == 2  # --to is required
    assert [op["operation_id"] for op in data(triad("ops", "list", "--json"))] == [
        made["operation_id"]
    ]


@pytest.fixture
def served_shop(database_url: str, tmp_path: Path) -> Iterator[str]:
    dialect = "sqlite" if database_url.startswith("sqlite") else "pg"
    url = asyncio.run(make_shop(dialect, tmp_path))
    yield url
    asyncio.run(drop_shop(url))


@pytest.fixture
def server_env(served_shop: str) -> dict[str, str]:
    return {"TRIAD_DATABASE_TARGETS": json.dumps({"shop": served_shop})}


def test_a_restore_through_a_server(
    both: tuple[CliRunner, dict[str, str], dict[str, str]], served_shop: str
) -> None:
    runner, _, remote = both
    args = ["backup", "run", "database", "--target", "shop", "--wait", "--json"]
    made = data(runner.invoke(app, args, env=remote))
    assert made["status"] == "completed", made["status_reason"]
    backup_id = made["steps"][0]["output"]["backup_id"]
    args = ["backup", "restore", backup_id, "--to", "shop", "--json"]
    asked = data(runner.invoke(app, args, env=remote))
    assert asked["status"] == "awaiting_approval" and asked["request"]["requested_by"] == "ops"
    named = runner.invoke(app, [*args, "--as", "carol"], env=remote)
    assert named.exit_code != 0 and "--as" in named.stderr and "Traceback" not in named.output
    own = runner.invoke(app, ["backup", "restore", backup_id, "--to", "triad"], env=remote)
    assert own.exit_code != 0 and "triad's own database cannot be restored" in own.stderr
    assert asyncio.run(orders(served_shop)) == ORDERS
