"""Rolling a command over five hosts (names on one real sshd): batches, threshold, budget, undo."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.fixtures.servers import free_port
from tests.fixtures.sshd import SshServer
from triadops.actions.commands.invocation import Invocation
from triadops.actions.commands.rollout import (
    HostOutcome,
    HostSelection,
    roll_back,
    rollout,
    run_on_host,
    select_hosts,
    selection_fields,
)
from triadops.actions.commands.ssh import SshRunner
from triadops.domain.errors import InvalidRequest
from triadops.domain.parameters import ParamSpec, params_model
from triadops.settings.systems import HostSpec

HOSTS = ["h1", "h2", "h3", "h4", "h5"]

DEPLOY = 'if [ "$1" = "$2" ]; then echo "$1 refuses" >&2; exit 1; fi; touch "$3/$1"'
"""Fail on the host named by $2 before changing anything; else mark the host as changed."""
UNDO = 'rm "$2/$1"'


def inventory(server: SshServer, **broken: HostSpec) -> dict[str, HostSpec]:
    return {name: broken.get(name, server.host(tags=["web"])) for name in HOSTS}


def runner_of(
    hosts: dict[str, HostSpec], server: SshServer, folder: Path, failing: str, script: str = DEPLOY
) -> Callable[[str], Awaitable[HostOutcome]]:
    """Return a run_one that runs `script` for a host over SSH and measures what it changed."""

    async def run_one(name: str) -> HostOutcome:
        ssh = SshRunner(hosts[name], known_hosts=server.known_hosts, name=name)
        argv: tuple[str, ...] = ("sh", "-c", script, "sh", name, failing, str(folder))
        if script == UNDO:
            argv = ("sh", "-c", script, "sh", name, str(folder))
        done = await ssh.run(
            Invocation(argv=argv, env={}, cwd=None, timeout_s=30, output_limit=4096)
        )
        ok = done.exit_code == 0
        changed = (folder / name).exists() if script == DEPLOY else ok
        return HostOutcome(name, ok, changed, done, None if ok else done.stderr.strip())

    return run_one


async def test_one_host_of_five_failing_stops_after_its_batch(
    ssh_server: SshServer, tmp_path: Path
) -> None:
    hosts = inventory(ssh_server)
    done = await rollout(
        HOSTS,
        batch_size=2,
        max_fail_percent=0,
        failure_budget=None,
        run_one=runner_of(hosts, ssh_server, tmp_path, failing="h3"),
    )
    assert [o.host for o in done.outcomes] == ["h1", "h2", "h3", "h4"]
    assert done.failed() == ["h3"]
    assert done.changed() == ["h1", "h2", "h4"]
    assert done.skipped == ("h5",)
    assert done.stopped is not None and "batch 2" in done.stopped
    assert not (tmp_path / "h5").exists()
    assert not (tmp_path / "h3").exists()
    record = done.as_output()
    assert json.loads(json.dumps(record))["failed"] == ["h3"]
    assert record["hosts"][2]["error"] == "h3 refuses"  # type: ignore[index,call-overload]

    undone = await roll_back(
        done.changed(), runner_of(hosts, ssh_server, tmp_path, failing="", script=UNDO)
    )
    assert [o.host for o in undone.outcomes] == ["h1", "h2", "h4"]
    assert undone.failed() == []
    assert undone.stopped is None
    assert sorted(p.name for p in tmp_path.iterdir()) == []


async def test_a_threshold_lets_a_batch_fail_within_it(
    ssh_server: SshServer, tmp_path: Path
) -> None:
    done = await rollout(
        HOSTS,
        batch_size=2,
        max_fail_percent=50,
        failure_budget=None,
        run_one=runner_of(inventory(ssh_server), ssh_server, tmp_path, failing="h3"),
    )
    assert done.stopped is None
    assert done.failed() == ["h3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h1", "h2", "h4", "h5"]


async def test_the_failure_budget_holds_across_two_calls(
    ssh_server: SshServer, tmp_path: Path
) -> None:
    unreachable = ssh_server.host(port=free_port(), connect_timeout_s=5)
    hosts = inventory(ssh_server, h4=unreachable)
    budget = 2
    first = await rollout(
        ["h1", "h2"],
        batch_size=2,
        max_fail_percent=100,
        failure_budget=budget,
        run_one=runner_of(hosts, ssh_server, tmp_path, failing="h1"),
    )
    assert first.failed() == ["h1"]
    assert first.stopped is None
    budget -= len(first.failed())

    second = await rollout(
        ["h3", "h4", "h5"],
        batch_size=1,
        max_fail_percent=100,
        failure_budget=budget,
        run_one=runner_of(hosts, ssh_server, tmp_path, failing="none"),
    )
    assert second.failed() == ["h4"]
    h4 = second.outcomes[1]
    assert h4.completed is None and not h4.changed
    assert h4.error is not None and "h4" in h4.error
    assert second.stopped is not None and "failure budget" in second.stopped
    assert second.skipped == ("h5",)
    assert not (tmp_path / "h5").exists()

    spent = await rollout(
        ["h5"],
        batch_size=1,
        max_fail_percent=100,
        failure_budget=budget - 1,
        run_one=runner_of(hosts, ssh_server, tmp_path, failing="none"),
    )
    assert spent.outcomes == ()
    assert spent.skipped == ("h5",)
    assert not (tmp_path / "h5").exists()


async def test_run_on_host_judges_exit_codes_timeouts_and_refusals(
    ssh_server: SshServer, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    refused = SshRunner(ssh_server.host(), known_hosts=known, name="h9")
    good = SshRunner(ssh_server.host(), known_hosts=ssh_server.known_hosts, name="h1")

    def call(*argv: str, timeout_s: float = 30) -> Invocation:
        return Invocation(argv=argv, env={}, cwd=None, timeout_s=timeout_s, output_limit=256)

    ok = await run_on_host("h1", good, call("sh", "-c", "exit 4"), success_codes=[0, 4])
    assert (ok.ok, ok.changed, ok.error) == (True, True, None)
    bad = await run_on_host("h1", good, call("false"), success_codes=[0])
    assert (bad.ok, bad.changed, bad.error) == (False, True, "exit code 1 (success is [0])")
    slow = await run_on_host("h1", good, call("sleep", "30", timeout_s=0.5), success_codes=[0])
    assert (slow.ok, slow.changed, slow.error) == (False, True, "timed out after 0.5s")
    assert slow.completed is not None and slow.completed.timed_out
    nothing = await run_on_host("h9", refused, call("true"), success_codes=[0])
    assert (nothing.ok, nothing.changed, nothing.completed) == (False, False, None)
    assert nothing.error is not None and "h9" in nothing.error


async def test_a_slow_host_never_holds_its_mates_records(
    ssh_server: SshServer, tmp_path: Path
) -> None:
    """The slow host finishes only once the fast one's outcome was recorded."""
    go = tmp_path / "go"
    recorded: list[str] = []

    async def run_one(name: str) -> HostOutcome:
        wait = f"until [ -e {go} ]; do sleep 0.02; done" if name == "slow" else "true"
        ssh = SshRunner(ssh_server.host(), known_hosts=ssh_server.known_hosts, name=name)
        done = await ssh.run(
            Invocation(argv=("sh", "-c", wait), env={}, cwd=None, timeout_s=20, output_limit=64)
        )
        return HostOutcome(name, done.exit_code == 0, False, done, None)

    async def record(outcome: HostOutcome) -> None:
        recorded.append(outcome.host)
        go.touch()

    done = await rollout(
        ["slow", "fast"],
        batch_size=2,
        max_fail_percent=0,
        failure_budget=None,
        run_one=run_one,
        on_outcome=record,
    )
    assert recorded == ["fast", "slow"]
    assert [o.host for o in done.outcomes] == ["slow", "fast"]
    assert done.failed() == []


async def test_a_bug_in_run_one_propagates_and_cancels_the_batch() -> None:
    cancelled = asyncio.Event()

    async def run_one(name: str) -> HostOutcome:
        if name == "bad":
            raise RuntimeError("bug")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    with pytest.raises(ExceptionGroup):
        await rollout(
            ["other", "bad"],
            batch_size=2,
            max_fail_percent=0,
            failure_budget=None,
            run_one=run_one,
        )
    assert cancelled.is_set()


INVENTORY = {
    "web1": HostSpec(address="10.0.0.1", user="deploy", tags=["web", "eu"]),
    "web2": HostSpec(address="10.0.0.2", user="deploy", tags=["web"]),
    "db1": HostSpec(address="10.0.0.3", user="deploy", tags=["db"]),
    "cache1": HostSpec(address="10.0.0.4", user="deploy", tags=["cache"]),
}


def select(names: list[str], tags: list[str]) -> list[str]:
    return select_hosts(
        INVENTORY, allowed_names=["cache1"], allowed_tags=["web"], names=names, tags=tags
    )


def test_select_hosts_orders_and_deduplicates() -> None:
    assert select(["web2", "cache1"], ["web"]) == ["web2", "cache1", "web1"]
    assert select([], []) == ["web1", "web2", "cache1"]


@pytest.mark.parametrize(
    ("names", "tags", "field", "words"),
    [
        (["db1"], [], "hosts", "may not run on 'db1'"),
        (["nowhere"], [], "hosts", "no host 'nowhere'"),
        ([], ["db"], "tags", "may not target tag 'db'"),
        ([], ["nosuchtag"], "tags", "may not target tag 'nosuchtag'"),
    ],
)
def test_select_hosts_refuses_naming_the_field(
    names: list[str], tags: list[str], field: str, words: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        select(names, tags)
    assert refused.value.field == field
    assert words in refused.value.message


def test_an_allowed_tag_no_host_has_is_refused() -> None:
    with pytest.raises(InvalidRequest) as refused:
        select_hosts(INVENTORY, allowed_names=[], allowed_tags=["gone"], names=[], tags=["gone"])
    assert refused.value.field == "tags"
    assert "no host in the inventory has tag 'gone'" in refused.value.message


@pytest.mark.parametrize(
    "bad",
    [
        {"batch_size": 0},
        {"max_fail_percent": 100.5},
        {"max_fail_percent": -1},
        {"failure_budget": -1},
        {"hosts": ["not a name!"]},
        {"batch_size": "2"},
        {"command": "rm -rf /"},
    ],
)
def test_host_selection_refuses_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as refused:
        HostSelection.model_validate(bad)
    assert refused.value.errors()[0]["loc"][0] == next(iter(bad))


def test_host_selection_defaults_to_one_at_a_time_and_no_failures() -> None:
    chosen = HostSelection()
    assert (chosen.batch_size, chosen.max_fail_percent, chosen.failure_budget) == (1, 0.0, None)


def test_host_selection_merges_into_a_commands_params_model() -> None:
    spec = ParamSpec(type="str", pattern=r"^v[0-9]+$")
    model = params_model("command.deploy", {"tag": spec}, extra=selection_fields())
    params = model.model_validate({"tag": "v2", "tags": ["web"], "batch_size": 2})
    chosen = HostSelection.model_validate(
        params.model_dump(include=set(HostSelection.model_fields))
    )
    assert chosen == HostSelection(tags=["web"], batch_size=2)
    with pytest.raises(ValidationError) as refused:
        model.model_validate({"tag": "v2", "batch_size": "2"})
    assert refused.value.errors()[0]["loc"] == ("batch_size",)
