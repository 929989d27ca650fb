"""``triad troubleshoot`` end to end: diagnose, resolve through the branches, validate, document.

Doors a runbook could use to act beyond the requester, each tried: its resolution is the
caller's own operation (requested by them, never by a runbook identity), it meets the same
approvals (a high-risk fix waits for one), and a run without symptoms submits nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.cli.conftest import Triad, data, one_error_line, operation

BACKUPS_MISSING = """
name: backups_missing
title: No verified backup
diagnostics:
  - name: newest_backup
    check: backup_integrity_verified
  - name: elsewhere
    health: "nothing.*"
resolutions:
  - name: take_one
    procedure: backup_database
    when: [newest_backup]
"""

ERRORS_LOGGED = """
name: errors_logged
title: Errors in the executive's log
diagnostics:
  - name: errors
    logs: {source: triad, level: error, since: 1h, at_most: 0}
resolutions:
  - name: clean
    procedure: cache_cleanup
"""
RISKY_FIX = """  - name: risky
    procedure: risky_fix
"""

RISKY = """
name = "risky_fix"
description = "A fix whose risk needs a legislative approval"
operation_type = "maintenance"
constitutional_authority = ["executive"]
risk = "high"
rollback_plan = "nothing to undo"
validation_criteria = ["system_functionality_maintained"]

[[steps]]
action = "noop"
"""


def home(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["TRIAD_HOME"])


def runbook(cli_env: dict[str, str], text: str, name: str) -> None:
    folder = home(cli_env) / "runbooks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)


def log_error(cli_env: dict[str, str]) -> None:
    logs = home(cli_env) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    line = {"event": "step failed", "level": "error", "timestamp": datetime.now(UTC).isoformat()}
    (logs / "executive.log").write_text(json.dumps(line) + "\n")


def test_a_symptom_is_resolved_by_the_callers_own_operation_and_documented(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    runbook(cli_env, BACKUPS_MISSING, "backups_missing")
    incident = data(triad("troubleshoot", "backups_missing", "--as", "alice", "--json"))
    assert incident["status"] == "resolved"
    before = {f["name"]: f for f in incident["diagnosis"]}
    assert before["newest_backup"]["symptom"] is True
    assert before["elsewhere"]["symptom"] is None  # inconclusive, and the run went on
    chosen = incident["chosen"]
    assert (chosen["resolution"], chosen["status"]) == ("take_one", "completed")
    assert chosen["because"] == ["newest_backup"]
    after = {f["name"]: f for f in incident["validation"]}
    assert after["newest_backup"]["symptom"] is False
    op = operation(triad, chosen["operation_id"])
    assert op["request"]["requested_by"] == "alice"
    assert op["request"]["procedure"] == "backup_database"
    assert incident["ledger"], "the resolution's ledger entries are referenced"
    assert [s["phase"] for s in incident["timeline"]] == [
        "diagnose",
        "resolve",
        "validate",
        "document",
    ]
    listed = data(triad("incidents", "list", "--json"))
    assert [i["id"] for i in listed] == [incident["id"]]
    report = triad("incidents", "show", incident["id"], "--markdown")
    assert report.exit_code == 0
    assert f"# Incident {incident['id']}: No verified backup" in report.stdout
    assert "| newest_backup | check | yes |" in report.stdout


def test_a_symptom_that_stays_is_unresolved_and_exits_1(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    runbook(cli_env, ERRORS_LOGGED, "errors_logged")
    log_error(cli_env)
    result = triad("troubleshoot", "errors_logged", "--json")
    incident = data(result, exit_code=1)
    assert incident["status"] == "unresolved"
    assert incident["diagnosis"][0]["evidence"]["count"] == 1
    assert incident["validation"][0]["symptom"] is True
    assert incident["chosen"]["status"] == "completed"


def test_a_risky_fix_waits_for_its_approval_like_any_request(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    procedures = home(cli_env) / "procedures"
    procedures.mkdir(parents=True)
    (procedures / "risky_fix.toml").write_text(RISKY)
    runbook(cli_env, ERRORS_LOGGED + RISKY_FIX, "errors_logged")
    log_error(cli_env)
    incident = data(
        triad("troubleshoot", "errors_logged", "--resolution", "risky", "--as", "carol", "--json")
    )
    assert incident["status"] == "resolving"
    assert incident["validation"] == []
    op = operation(triad, incident["chosen"]["operation_id"])
    assert op["status"] == "awaiting_approval"
    assert op["request"]["requested_by"] == "carol"


def test_no_symptom_submits_nothing(triad: Triad, cli_env: dict[str, str]) -> None:
    runbook(cli_env, ERRORS_LOGGED, "errors_logged")
    incident = data(triad("troubleshoot", "errors_logged", "--json"))
    assert incident["status"] == "no_symptoms"
    assert incident["chosen"] is None
    assert data(triad("ops", "list", "--json")) == []


def test_unknown_runbooks_resolutions_and_incidents_are_one_error_line(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    assert "no runbook 'nope'" in one_error_line(triad("troubleshoot", "nope"))
    runbook(cli_env, ERRORS_LOGGED, "errors_logged")
    log_error(cli_env)
    said = one_error_line(triad("troubleshoot", "errors_logged", "--resolution", "other"))
    assert "has no resolution 'other' (it has: clean)" in said
    assert "no incident" in one_error_line(triad("incidents", "show", "inc-000000000000"))
