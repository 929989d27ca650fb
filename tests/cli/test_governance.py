"""One governance for every writer of a database: a process under other settings refuses."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.cli.conftest import Triad, data, one_error_line
from triadops.actions.procedures.catalogue import BUILTIN
from triadops.constitution.sops import load_catalogue
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.engine import create_engine


def the_server_governs(**settings: object) -> None:
    """Do what ``triad serve`` does on start: make its settings the database's governance."""

    async def adopt() -> None:
        rt = await Runtime.open(Settings(**settings))  # type: ignore[arg-type]
        try:
            await rt.check_governance(writer="triad serve on ops-1", adopt=True)
        finally:
            await rt.close()

    asyncio.run(adopt())


def test_a_shell_without_the_servers_model_refuses_to_submit_naming_model(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-used")
    the_server_governs(model="openai:gpt-4o")

    refused = triad("ops", "submit", "--step", "noop", "--id", "op-g")

    assert refused.exit_code == 1
    line = one_error_line(refused)
    assert re.match(
        r"error: refusing to write: this process's model is 'rules' but the database's "
        r"governance says 'openai:gpt-4o' \(set by triad serve on ops-1 at [0-9T:+-]+\) "
        r"\(and 3 more: agents\.evaluator, agents\.executor, agents\.planner\); run remotely "
        r"with TRIAD_URL or use the same settings$",
        line,
    ), line
    assert "sk-test" not in line
    assert data(triad("ops", "list", "--json")) == []  # reads still run
    assert "no operation 'op-g'" in one_error_line(triad("ops", "show", "op-g"))


def test_the_first_writer_stores_the_governance_and_a_differing_writer_refuses(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert triad("ops", "submit", "--step", "noop", "--id", "op-1").exit_code == 0
    monkeypatch.setenv("TRIAD_APPROVAL_TIMEOUT_S", "60")
    monkeypatch.setenv("TRIAD_HEALTH__THRESHOLDS__CPU_PERCENT", "50")

    for args in (
        ["ops", "submit", "--step", "noop"],
        ["ops", "cancel", "op-1"],
        ["silences", "add", "alertname=X", "--duration", "1h"],
        ["health"],
    ):
        result = triad(*args)
        assert result.exit_code == 1, (args, result.output)
        line = one_error_line(result)
        assert (
            "this process's approval_timeout_s is 60.0 but the database's governance says 86400.0"
            in line
        )
        assert "(and 1 more: health.thresholds.cpu_percent)" in line

    assert data(triad("ops", "show", "op-1", "--json"))["status"] == "scheduled"
    # What no governing setting decides still works: the crown's brake, issuing tokens.
    assert triad("freeze", "--reason", "drill").exit_code == 0
    assert triad("token", "create", "--name", "ci", "--role", "viewer").exit_code == 0


def test_the_server_adopts_its_settings_and_the_same_settings_write(triad: Triad) -> None:
    the_server_governs(approval_timeout_s=60)
    assert "approval_timeout_s" in one_error_line(triad("ops", "submit", "--step", "noop"))

    the_server_governs()

    assert triad("ops", "submit", "--step", "noop").exit_code == 0


def test_a_worker_under_other_settings_refuses_to_start(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    the_server_governs()
    monkeypatch.setenv("TRIAD_BLAST_RADIUS_THRESHOLD", "9")

    refused = triad("worker")

    assert refused.exit_code == 1
    [line] = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert "this process's blast_radius_threshold is 9 but the database's governance says 3" in line
    assert "started; Ctrl-C to stop" not in refused.stderr


def _edit_governance(database_url: str, statement: str) -> None:
    """Change the stored governance row behind the ledger's back."""

    async def edit() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(edit())


def _governance_findings(triad: Triad) -> list[str]:
    found = triad("audit", "verify", "--json")
    report = json.loads(found.stdout)
    assert report["ok"] is (found.exit_code == 0)
    return [f"{d['subject']}: {d['problem']}" for d in report["discrepancies"]]


def test_the_ledger_records_each_governance_and_verify_names_an_edited_row(
    triad: Triad, database_url: str
) -> None:
    assert triad("ops", "submit", "--step", "noop", "--id", "op-1").exit_code == 0
    [entry] = [e for e in data(triad("audit", "log", "--json")) if e["event"] == "governance_set"]
    assert entry["actor"] == "triad:governance"
    assert entry["details"]["settings"]["model"] == "rules"
    # No secret among the governing settings: models are named, keys come from the environment.
    # The settings, each loaded procedure's digest and the SOP templates' digests: a process
    # with other procedures or SOPs governs otherwise.
    sops = load_catalogue(None).governance()
    shipped = {f"procedures.{file.stem}" for file in BUILTIN.glob("*.toml")}
    assert "procedures.database_optimization" in shipped
    assert set(entry["details"]["settings"]) == set(Settings().governance()) | set(sops) | shipped
    assert {k: entry["details"]["settings"][k] for k in sops} == sops
    assert not [k for k in entry["details"]["settings"] if re.search("key|token|secret|pass", k)]
    assert entry["details"]["set_by"].startswith("triad ops submit (")
    assert _governance_findings(triad) == []

    the_server_governs(approval_timeout_s=60)  # an honest adoption: recorded, verify green
    assert _governance_findings(triad) == []
    entries = [e for e in data(triad("audit", "log", "--json")) if e["event"] == "governance_set"]
    assert [e["details"]["settings"]["approval_timeout_s"] for e in entries] == [86400.0, 60]

    # Somebody with the database loosens the approval timeout, hash recomputed or not.
    _edit_governance(database_url, "UPDATE governance SET set_by = 'ops-2'")
    assert _governance_findings(triad) == [
        "governance: stored as set by ops-2 but the ledger's were set by triad serve on ops-1"
    ]
    loose = {**entries[-1]["details"]["settings"], "approval_timeout_s": 999999}
    canonical = json.dumps(loose, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    _edit_governance(
        database_url,
        f"UPDATE governance SET set_by = 'triad serve on ops-1', hash = '{digest}', "
        f"settings = '{json.dumps(loose)}'",
    )
    findings = _governance_findings(triad)
    assert findings == [
        f"governance: stored settings {digest[:12]}… but the ledger's last were "
        f"{entries[-1]['details']['hash'][:12]}…"
    ]
    assert triad("audit", "verify").exit_code == 1
    assert "governance: stored settings" in triad("audit", "verify").stdout

    _edit_governance(database_url, "DELETE FROM governance")
    assert _governance_findings(triad) == ["governance: in the ledger but not stored (deleted)"]


def test_a_writer_with_other_sop_templates_refuses_naming_the_sop(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    assert triad("ops", "submit", "--step", "noop", "--id", "op-1").exit_code == 0
    folder = Path(cli_env["TRIAD_HOME"]) / "sops"
    folder.mkdir()
    shipped = load_catalogue(None).get("SOP-003")
    templates = Path(__file__).parents[2] / "src/triadops/constitution/sops/templates"
    shipped_text = (templates / "sop-003-configuration-change.toml").read_text()
    (folder / "config.toml").write_text("review = true\n" + shipped_text)  # stricter

    refused = triad("ops", "submit", "--step", "noop")

    line = one_error_line(refused)
    assert "this process's sops.SOP-003 is '" in line, line
    assert f"the database's governance says '{shipped.digest}'" in line
    assert triad("sop", "show", "SOP-003", "--json").exit_code == 0  # reads still run
