"""Approve, reject, cancel, amend, acknowledge, resolve; freeze and unfreeze."""

from __future__ import annotations

from tests.cli.conftest import Triad, data, one_error_line, operation

SYSTEMS = ("--system", "db", "--system", "api", "--system", "cache", "--system", "logs")


def _submit_risky(triad: Triad, operation_id: str) -> None:
    result = triad(
        "ops",
        "submit",
        "--id",
        operation_id,
        "--step",
        "database.purge_audit_logs",
        *SYSTEMS,
        "--as",
        "alice",
    )
    assert result.exit_code == 0, result.output
    assert f"{operation_id}: awaiting_approval" in result.stdout
    assert "waits for approval by legislative, crown" in result.stdout


def test_approval_respects_separation_of_duties(triad: Triad) -> None:
    _submit_risky(triad, "op-1")

    own = triad("ops", "approve", "op-1", "--as", "alice")
    assert own.exit_code == 1
    assert one_error_line(own) == "error: alice requested op-1 and cannot approve it"

    by_bob = triad("ops", "approve", "op-1", "--as", "bob")
    assert by_bob.exit_code == 0, by_bob.output
    assert "op-1: awaiting_approval" in by_bob.stdout

    by_carol = triad("ops", "approve", "op-1", "--authority", "crown", "--as", "carol", "--wait")
    assert by_carol.exit_code == 0, by_carol.output
    assert "op-1: completed" in by_carol.stdout
    shown = operation(triad, "op-1")
    assert [(a["approver"], a["authority"]) for a in shown["approvals"]] == [
        ("bob", "legislative"),
        ("carol", "crown"),
    ]


def test_approving_twice_or_under_a_bad_authority_is_refused(triad: Triad) -> None:
    _submit_risky(triad, "op-2")
    assert triad("ops", "approve", "op-2", "--as", "bob").exit_code == 0

    again = triad("ops", "approve", "op-2", "--as", "bob")
    assert "already approved" in one_error_line(again)
    bad = triad("ops", "approve", "op-2", "--authority", "king", "--as", "bob")
    assert bad.exit_code == 2
    assert "--authority: 'king'" in one_error_line(bad)


def test_reject_records_the_reason(triad: Triad) -> None:
    _submit_risky(triad, "op-3")

    result = triad("ops", "reject", "op-3", "--reason", "not today", "--as", "bob")

    assert result.exit_code == 0, result.output
    assert "op-3: rejected" in result.stdout and "not today" in result.stdout
    assert operation(triad, "op-3")["status_reason"] == "not today"
    assert "not awaiting_approval" in one_error_line(triad("ops", "approve", "op-3", "--as", "bob"))


def test_cancel_a_scheduled_operation(triad: Triad) -> None:
    triad("ops", "submit", "--step", "noop", "--id", "op-4")

    result = triad("ops", "cancel", "op-4", "--reason", "changed my mind")

    assert result.exit_code == 0, result.output
    assert "op-4: cancelled" in result.stdout
    assert "can no longer be cancelled" in one_error_line(triad("ops", "cancel", "op-4"))


def test_amend_replaces_the_plan_and_voids_approvals(triad: Triad) -> None:
    _submit_risky(triad, "op-5")

    result = triad(
        "ops", "amend", "op-5", "--step", "noop", "--params", '{"sleep_s": 0}', "--as", "alice"
    )

    assert result.exit_code == 0, result.output
    # Four systems still raise the risk of a noop to medium, without a rollback plan.
    assert "op-5: awaiting_approval" in result.stdout and "medium risk" in result.stdout
    shown = operation(triad, "op-5")
    assert [s["action"] for s in shown["plan"]["steps"]] == ["noop"]
    assert shown["planning_result"]["required_approvals"] == ["legislative"]
    bad = triad("ops", "amend", "op-5", "--step", "noop", "--params", "{", "--as", "alice")
    assert bad.exit_code == 2
    assert "--params #1 (for --step noop) is not valid JSON" in one_error_line(bad)


def test_emergency_acknowledgement(triad: Triad) -> None:
    result = triad(
        "ops",
        "submit",
        "--id",
        "op-6",
        "--type",
        "emergency",
        "--authority",
        "crown",
        "--step",
        "noop",
        "--as",
        "alice",
    )
    assert result.exit_code == 0, result.output

    assert "cannot acknowledge" in one_error_line(triad("ops", "ack", "op-6", "--as", "alice"))
    assert triad("ops", "ack", "op-6", "--as", "bob").exit_code == 0
    assert operation(triad, "op-6")["acknowledged_by"] == "bob"


def test_resolve_needs_an_operation_in_doubt(triad: Triad) -> None:
    triad("ops", "submit", "--step", "noop", "--id", "op-7", "--wait")

    result = triad("ops", "resolve", "op-7", "--succeeded")

    assert one_error_line(result) == "error: operation op-7 is completed, not in_doubt"


def test_freeze_holds_work_until_unfreeze(triad: Triad) -> None:
    frozen = triad("freeze", "--reason", "incident", "--as", "queen")
    assert frozen.exit_code == 0, frozen.output
    assert "already frozen" in one_error_line(triad("freeze", "--reason", "again"))

    held = triad("ops", "submit", "--step", "noop", "--id", "op-8", "--wait")
    assert held.exit_code == 0, held.output
    assert "op-8: scheduled" in held.stdout and "frozen" in held.stdout

    assert triad("unfreeze", "--as", "queen").exit_code == 0
    done = triad("ops", "submit", "--step", "noop", "--id", "op-9", "--wait")
    assert done.exit_code == 0, done.output
    assert "op-9: completed" in done.stdout
    assert one_error_line(triad("unfreeze")) == "error: not frozen"
    statuses = {o["operation_id"]: o["status"] for o in data(triad("ops", "list", "--json"))}
    assert statuses["op-9"] == "completed"


def test_approve_shows_the_plan_and_names_its_hash(triad: Triad) -> None:
    _submit_risky(triad, "op-h")
    reviewed = operation(triad, "op-h")["plan_hash"]

    wipe = ("--step", "cache.cleanup", "--params", '{"max_age_s": 0}')
    amended = triad("ops", "amend", "op-h", *wipe, "--as", "bob")
    assert amended.exit_code == 0, amended.output
    stale = triad("ops", "approve", "op-h", "--plan-hash", reviewed, "--as", "carol")
    assert "changed since it was reviewed" in one_error_line(stale)
    assert operation(triad, "op-h")["approvals"] == []
    assert "is not a sha256" in one_error_line(
        triad("ops", "approve", "op-h", "--plan-hash", "abc", "--as", "carol")
    )

    current = operation(triad, "op-h")["plan_hash"]
    shown = triad("ops", "approve", "op-h", "--as", "carol")
    assert shown.exit_code == 0, shown.output
    assert "cache.cleanup" in shown.stdout
    assert f"plan hash: {current}" in shown.stdout
    assert [a["plan_hash"] for a in operation(triad, "op-h")["approvals"]] == [current]


def test_a_refused_decision_is_on_the_record(triad: Triad) -> None:
    _submit_risky(triad, "op-r")
    own = triad("ops", "approve", "op-r", "--as", "alice")
    assert "cannot approve" in one_error_line(own)

    refused = [e for e in data(triad("audit", "log", "--json")) if e["event"] == "refused"]
    assert [(e["actor"], e["details"]["action"]) for e in refused] == [
        ("alice", "triad ops approve")
    ]
    assert operation(triad, "op-r")["approvals"] == []


def test_reject_and_cancel_refuse_a_blank_reason_as_the_api_does(triad: Triad) -> None:
    _submit_risky(triad, "op-b")
    for args in (["reject", "op-b", "--reason", "  "], ["cancel", "op-b", "--reason", "\t"]):
        result = triad("ops", *args, "--as", "bob")
        assert result.exit_code == 2
        assert "--reason: String should have at least 1 character" in one_error_line(result)
    assert operation(triad, "op-b")["status"] == "awaiting_approval"


def test_an_error_line_never_carries_terminal_escapes(triad: Triad) -> None:
    result = triad("ops", "show", "op-\x1b[2J")
    line = one_error_line(result)
    assert "\x1b" not in line and "\\x1b" in line
