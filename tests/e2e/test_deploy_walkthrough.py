"""The README's deploy walkthrough, for real: a clone, ``triad serve``, two tokens, two deploys.

`deploy_clone` (tests/fixtures/walkthrough.py) prepares the clone from the README's own
blocks and starts a real ``triad serve``; the CLI is its client through ``TRIAD_URL`` and
``TRIAD_TOKEN``, alice requesting and bob approving, and ``triad ops show --json`` states
what happened. The README test runs the same walkthrough's console blocks on this fixture.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.conftest import data
from tests.fixtures.walkthrough import Clone

pytestmark = pytest.mark.slow


def _deploy(clone: Clone, version: str, *, exit_code: int) -> dict[str, Any]:
    """Submit as alice, approve as bob with ``--wait``; return ``triad ops show --json``."""
    submitted = clone.remote("alice", "ops", "submit", "--procedure", "deploy-app",
                             "--param", f"version={version}")  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    operation_id, status = submitted.stdout.splitlines()[0].split(": ")
    assert status == "awaiting_approval", submitted.output
    own = clone.remote("alice", "ops", "approve", operation_id)
    assert own.exit_code != 0, own.output
    approved = clone.remote("bob", "ops", "approve", operation_id, "--wait")
    assert approved.exit_code == exit_code, approved.output
    shown: dict[str, Any] = data(clone.remote("bob", "ops", "show", operation_id, "--json"))
    return shown


def test_a_deploy_is_validated_and_a_broken_one_rolled_back_by_itself(deploy_clone: Clone) -> None:
    clone = deploy_clone
    # A version that would add an argument, or reach the rollback, never gets stored.
    for version in ("v2 --rollback", "--rollback", "v2;touch /tmp/x"):
        refused = clone.remote("alice", "ops", "submit", "--procedure", "deploy-app",
                               "--param", f"version={version}")  # fmt: skip
        assert refused.exit_code != 0, refused.output
        assert refused.stderr.startswith("error: procedure_params.version: "), refused.stderr
    assert data(clone.remote("alice", "ops", "list", "--json")) == []
    assert clone.version() == "v1"

    good = _deploy(clone, "v2", exit_code=0)
    assert good["status"] == "completed"
    assert good["request"]["requested_by"] == "alice"
    assert [(a["approver"], a["authority"]) for a in good["approvals"]] == [("bob", "legislative")]
    [probe] = [f for f in good["validation_result"]["findings"] if f["name"] == "http_probe.app"]
    assert probe["passed"], probe
    assert probe["after"]["statuses"] == {"200": 5}
    assert clone.version() == "v2"

    broken = _deploy(clone, "broken-3", exit_code=1)
    assert broken["status"] == "rolled_back"
    assert broken["status_reason"] == "validation failed: http_probe.app"
    assert broken["implementation_result"]["rollback_triggered"] is True
    [step] = broken["steps"]
    assert step["status"] == "rolled_back", step
    [probe] = [f for f in broken["validation_result"]["findings"] if f["name"] == "http_probe.app"]
    assert not probe["passed"]
    assert "answered an unexpected status after (500 x5; expected 200)" in probe["detail"]
    assert clone.version() == "v2"
    assert (clone.root / ".triad" / "app" / "VERSION").read_text().strip() == "v2"
