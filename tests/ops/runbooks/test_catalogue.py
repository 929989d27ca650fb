"""The runbook catalogue: the seed's three scenarios, the user's own, each mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from triadops.domain.errors import RunbooksInvalid
from triadops.ops.runbooks.catalogue import BUILTIN, check_paths, load_runbooks
from triadops.runtime import catalogues
from triadops.settings import Settings

SEED = ("constitutional_compliance_failure", "data_inconsistency", "high_response_time")


@pytest.fixture
def known(tmp_path: Path) -> dict[str, list[str]]:
    actions, checks, procedures = catalogues(Settings(home=tmp_path / "home"))
    return {
        "checks": checks.names(),
        "procedures": procedures.names(),
        "actions": actions.names(),
    }


def problems_of(tmp_path: Path, known: dict[str, list[str]], text: str) -> list[str]:
    folder = tmp_path / "runbooks"
    folder.mkdir(exist_ok=True)
    (folder / "mine.yaml").write_text(text)
    _, found = check_paths([BUILTIN, folder], **known)
    return [str(p) for p in found]


MINE = """
name: disk_filling_up
title: Disk filling up
alerts: [HostDiskFull]
diagnostics:
  - name: errors
    logs: {level: error, since: 1h}
resolutions:
  - name: rotate
    procedure: log_rotation
"""


def test_the_seeds_three_scenarios_load_each_step_mapped(
    tmp_path: Path, known: dict[str, list[str]]
) -> None:
    catalogue, problems = check_paths([BUILTIN], **known)
    assert problems == []
    assert catalogue.names() == list(SEED)
    for entry in catalogue.entries:
        book = entry.runbook
        assert entry.source == "builtin"
        # Every diagnostic reads one real thing; every resolution is a real procedure.
        assert all(d.kind in {"check", "health", "logs", "ledger"} for d in book.diagnostics)
        for d in book.diagnostics:
            if d.check is not None:
                assert d.check in known["checks"]
        assert all(f.procedure in known["procedures"] for f in book.resolutions)
    high = catalogue.get("high_response_time").runbook
    assert [d.name for d in high.diagnostics][:5] == [
        "check_cpu_utilization",
        "check_memory_usage",
        "check_database_performance",
        "check_network_latency",
        "analyze_bottlenecks",
    ]
    assert [e.runbook.name for e in catalogue.answering("DatabaseSlow")] == ["high_response_time"]


def test_a_users_runbook_adds_one_and_one_of_the_same_name_replaces_it(
    tmp_path: Path, known: dict[str, list[str]]
) -> None:
    folder = tmp_path / "home" / "runbooks"
    folder.mkdir(parents=True)
    (folder / "disk.yaml").write_text(MINE)
    (folder / "data.yml").write_text(
        MINE.replace("disk_filling_up", "data_inconsistency").replace("Disk", "Ours")
    )
    catalogue = load_runbooks(tmp_path / "home", **known)
    assert catalogue.names() == sorted([*SEED, "disk_filling_up"])
    replaced = catalogue.get("data_inconsistency")
    assert replaced.runbook.title == "Ours filling up"
    assert replaced.source == str(folder / "data.yml")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            ("    logs:", "    chek: agents_healthy\n    logs:"),
            "diagnostics[0].chek: unknown key 'chek' (did you mean 'check'?)",
        ),
        (
            ("logs: {level: error, since: 1h}", "check: agent_healthy"),
            "diagnostics[0].check: no check 'agent_healthy' (did you mean 'agents_healthy'?)",
        ),
        (
            ("logs: {level: error, since: 1h}", "check: agents_healthy\n    ledger: verify"),
            "diagnostics[0]: a diagnostic reads exactly one of check, health, logs, ledger "
            "(given: check, ledger)",
        ),
        (
            ("since: 1h", "since: an hour"),
            "diagnostics[0].logs: 'an hour' is not a duration such as 30s, 15m, 2h or 1d",
        ),
        (
            ("procedure: log_rotation", "procedure: log_rotaton"),
            "resolutions[0].procedure: no procedure 'log_rotaton' (did you mean 'log_rotation'?)",
        ),
        (
            ("procedure: log_rotation", "action: cache.clean"),
            "resolutions[0].action: no action 'cache.clean' (did you mean 'cache.cleanup'?)",
        ),
        (
            ("procedure: log_rotation", "procedure: log_rotation\n    when: [erors]"),
            "resolutions.0: Value error",
        ),
        (("title: Disk filling up\n", ""), "title: missing required key"),
        (
            ("alerts: [HostDiskFull]", "alerts: &a [HostDiskFull]\nx: *a"),
            "line 5: YAML aliases (*name) are not allowed",
        ),
        (("alerts: [HostDiskFull]", "alerts: [HostDiskFull"), "YAML syntax error"),
    ],
)
def test_each_mistake_is_named_with_its_file_and_key(
    tmp_path: Path, known: dict[str, list[str]], change: tuple[str, str], said: str
) -> None:
    found = problems_of(tmp_path, known, MINE.replace(*change))
    assert len(found) == 1, found
    assert found[0].startswith(str(tmp_path / "runbooks" / "mine.yaml") + ": ")
    if said.startswith("resolutions.0"):
        assert "when names no diagnostic erors" in found[0]
    else:
        assert said in found[0]


def test_a_runbook_that_does_not_fit_stops_triad_from_opening(
    tmp_path: Path, known: dict[str, list[str]]
) -> None:
    folder = tmp_path / "home" / "runbooks"
    folder.mkdir(parents=True)
    (folder / "bad.yaml").write_text(MINE.replace("log_rotation", "nothing_such"))
    with pytest.raises(RunbooksInvalid, match="no procedure 'nothing_such'"):
        load_runbooks(tmp_path / "home", **known)
