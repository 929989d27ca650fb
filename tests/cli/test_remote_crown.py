"""Remote mode for the crown's brake, health and checkpoints: a real server, the same output.

The server is a real ``triad serve`` (`tests.cli.test_remote`) holding a checkpoint key;
the local CLI works on the same database with the same key, so each command's output in one
mode is held against the other's.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import data, one_error_line
from tests.cli.test_decisions import SYSTEMS
from tests.cli.test_remote import _run
from triadops.ops.health import check_health, save_report
from triadops.runtime import Runtime
from triadops.settings import Settings

pytestmark = pytest.mark.slow

KEY = base64.b64encode(bytes(range(32))).decode()
"""A fixed Ed25519 private key (32 raw bytes): the server's and the local CLI's."""

Both = tuple[CliRunner, dict[str, str], dict[str, str]]


@pytest.fixture
def server_env() -> dict[str, str]:
    """The server signs checkpoints with `KEY`."""
    return {"TRIAD_CHECKPOINT_KEY": KEY}


def crown_token(runner: CliRunner, local: dict[str, str]) -> str:
    """Issue a crown token where the database is (tokens are issued only there)."""
    made = _run(runner, local, "token", "create", "--name", "queen", "--role", "crown", "--json")
    token: str = data(made)["token"]
    return token


def same(here: Result, there: Result) -> None:
    """Assert both runs ended alike and printed the same thing."""
    assert here.exit_code == there.exit_code, (here.output, there.output)
    assert here.stdout == there.stdout


def test_freeze_and_unfreeze_remotely_need_the_crown_and_print_as_locally(both: Both) -> None:
    runner, local, remote = both
    crown = remote | {"TRIAD_TOKEN": crown_token(runner, local)}

    refused = _run(runner, remote, "freeze", "--reason", "drill")
    assert refused.exit_code == 1
    assert "holds none of the roles this needs: crown" in one_error_line(refused)
    assert data(_run(runner, local, "ops", "list", "--json")) == []
    assert "frozen" not in [e["event"] for e in data(_run(runner, local, "audit", "log", "--json"))]

    frozen = _run(runner, crown, "freeze", "--reason", "drill")
    assert frozen.exit_code == 0, frozen.output
    assert frozen.stdout == "frozen by queen: drill\n"
    assert data(_run(runner, crown, "unfreeze", "--json")) == {"frozen": False, "by": "queen"}

    here = data(_run(runner, local, "freeze", "--reason", "again", "--json", "--as", "queen"))
    there = data(_run(runner, crown, "unfreeze", "--json"))
    assert here == {"frozen": True, "by": "queen", "reason": "again"}
    assert there == {"frozen": False, "by": "queen"}
    again = _run(runner, crown, "freeze", "--reason", "third", "--json")
    assert data(again) == {"frozen": True, "by": "queen", "reason": "third"}
    assert data(_run(runner, local, "audit", "verify", "--json"))["ok"] is True


def test_a_remote_checkpoint_is_signed_by_the_server_into_its_log(
    both: Both, settings: Settings
) -> None:
    runner, local, remote = both
    local = local | {"TRIAD_CHECKPOINT_KEY": KEY}
    crown = remote | {"TRIAD_TOKEN": crown_token(runner, local)}
    refused = _run(runner, remote, "audit", "checkpoint")
    assert "holds none of the roles this needs: crown" in one_error_line(refused)

    here = _run(runner, local, "audit", "checkpoint")
    there = _run(runner, crown, "audit", "checkpoint")

    assert here.exit_code == there.exit_code == 0, (here.output, there.output)
    log = settings.home / "checkpoints.jsonl"
    shape = (
        r"checkpoint \d+ at \S+\nhash: [0-9a-f]{64}\nkey id: [0-9a-f]{16}\n"
        + f"appended to {re.escape(str(log))}\n"
    )
    assert re.fullmatch(shape, here.stdout), here.stdout
    assert re.fullmatch(shape, there.stdout), there.stdout
    # The same key signed both: the key id lines agree.
    assert here.stdout.splitlines()[2] == there.stdout.splitlines()[2]
    signed = data(_run(runner, crown, "audit", "checkpoint", "--json"))
    assert set(signed) == set(data(_run(runner, local, "audit", "checkpoint", "--json")))
    verified = data(_run(runner, local, "audit", "verify", "--json"))
    assert verified["ok"] is True, verified
    assert verified["checkpoints"]["checked"] is True
    assert verified["checkpoints"]["count"] >= 4


@pytest.mark.parametrize("server_env", [{}], ids=["no-key"])
def test_a_server_without_a_key_says_where_to_set_one(both: Both) -> None:
    runner, local, remote = both
    crown = remote | {"TRIAD_TOKEN": crown_token(runner, local)}

    refused = _run(runner, crown, "audit", "checkpoint")

    assert refused.exit_code == 1
    assert one_error_line(refused) == (
        "error: the server has no checkpoint key: set TRIAD_CHECKPOINT_KEY_FILE where the "
        "server runs (triad audit keygen writes one)"
    )


def _shape(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """What a health report shows, without its figures and times."""
    return [(c["name"], [check["name"] for check in c["checks"]]) for c in report["components"]]


def test_health_remotely_shows_the_servers_report_and_stores_none(
    both: Both, settings: Settings
) -> None:
    runner, local, remote = both

    here, there = _run(runner, local, "health", "--json"), _run(runner, remote, "health", "--json")

    assert here.exit_code == there.exit_code
    mine, theirs = data(here, exit_code=here.exit_code), data(there, exit_code=there.exit_code)
    assert set(mine) == set(theirs)
    # The server also reports its API's error rate, which no local process has.
    assert [part for part in _shape(theirs) if part[0] != "api"] == _shape(mine)
    assert theirs["id"] is None  # checked for the answer, not stored
    text = _run(runner, remote, "health")
    assert re.match(r"(healthy|degraded|unhealthy) \(score [01]\.\d\d\), checked ", text.stdout)
    assert "components" in text.stdout and "checks" in text.stdout
    listed = ["health", "history"]
    for mode in (local, remote):
        assert _run(runner, mode, *listed).stdout == "no stored health reports\n"


def test_health_history_remotely_lists_what_locally_lists(both: Both, settings: Settings) -> None:
    runner, local, remote = both

    async def store_three() -> None:
        rt = await Runtime.open(settings, migrate=False)
        try:
            for _ in range(3):
                await save_report(rt.powers, await check_health(rt.powers))
        finally:
            await rt.close()

    asyncio.run(store_three())

    for args in (
        ["health", "history"],
        ["health", "history", "--json"],
        ["health", "history", "--limit", "2"],
        ["health", "history", "--limit", "2", "--before", "3", "--json"],
    ):
        same(_run(runner, local, *args), _run(runner, remote, *args))
    paged = _run(runner, remote, "health", "history", "--limit", "2")
    assert paged.stdout.splitlines()[-1] == "more: triad health history --limit 2 --before 2"
    bad = _run(runner, remote, "health", "history", "--limit", "0")
    assert bad.exit_code == 2


def test_without_a_model_agents_check_says_so_alike(both: Both) -> None:
    runner, local, remote = both
    for args in (["agents", "check"], ["agents", "check", "--json"]):
        same(_run(runner, local, *args), _run(runner, remote, *args))
    assert "nothing to check" in _run(runner, remote, "agents", "check").stdout


def test_the_awaiting_approval_note_names_no_as_flag_remotely(both: Both) -> None:
    runner, local, remote = both
    risky = ["ops", "submit", "--step", "database.purge_audit_logs", *SYSTEMS]

    there = _run(runner, remote, *risky, "--id", "op-r")
    here = _run(runner, local, *risky, "--id", "op-l")

    assert there.exit_code == here.exit_code == 0, (there.output, here.output)
    why = "  reason: critical risk: needs approval by legislative, crown\n"
    note = "  note: waits for approval by legislative, crown: "
    assert there.stdout == (
        f"op-r: awaiting_approval\n{why}{note}approve with another principal's token (triad "
        "login or TRIAD_TOKEN)\n"
    )
    assert here.stdout == (
        f"op-l: awaiting_approval\n{why}{note}triad ops approve op-l --as <other>\n"
    )
