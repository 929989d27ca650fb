"""Commands on declared hosts through the pipeline, against the real sshd on 127.0.0.1.

Every "host" is a name in the inventory for the same sshd, so the tool's calls log (on this
machine) counts what ran on all of them; a host that must fail points at a closed port.
Doors of "rollback runs on the hosts that changed": the failing step's own undo, and the
operation's rollback of an earlier step (both from the step's recorded outcomes).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from tests.actions.commands.declared import argv, calls, deploy_spec, open_runtime
from tests.actions.commands.test_definition_pin import _approve
from tests.fixtures.api import drive
from tests.fixtures.pipeline import ALICE, load, request, submit
from tests.fixtures.sshd import SshServer, known_hosts_line
from triadops.actions.commands.rollout import HostSelection
from triadops.actions.commands.ssh import remote_command
from triadops.cli.output import render_operation
from triadops.constitution import lifecycle
from triadops.constitution.ledger import audit
from triadops.constitution.legislative.submission import submit_operation
from triadops.domain.enums import OperationStatus
from triadops.domain.errors import InvalidRequest
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.settings.systems import HOST_SELECTION
from triadops.storage.tables import LedgerRow, OperationRow, StepRow

SECRET = "tok-5e4d3c2b1a09"
WEB = ["web1", "web2", "web3", "web4", "web5"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: a connection is refused at once


def _settings(
    settings: Settings,
    server: SshServer,
    *,
    commands: dict[str, dict[str, Any]],
    down: tuple[str, ...] = (),
    known_hosts: Path | None = None,
    **changed: dict[str, Any],
) -> Settings:
    """The fixture's settings with web1..web5 (and db1) on the sshd; `down` ones unreachable."""
    hosts: dict[str, Any] = {}
    for name in [*WEB, "db1"]:
        fields: dict[str, Any] = {"tags": ["db" if name == "db1" else "web"]}
        if name in down:
            fields.update(port=_closed_port(), connect_timeout_s=3.0)
        fields.update(changed.get(name, {}))
        hosts[name] = server.host(**fields).model_dump(mode="json")
    return Settings(
        home=settings.home,
        database_url=settings.database_url,
        monitor=False,
        commands=commands,
        hosts=hosts,
        known_hosts=known_hosts or server.known_hosts,
    )


def _on_web(tool: Path, **overrides: Any) -> dict[str, Any]:
    return deploy_spec(tool, host_tags=["web"], **overrides)


def _ran(tool: Path, what: str, tag: str) -> int:
    return sum(1 for call in calls(tool) if call == [what, tag])


async def _verified(rt: Runtime) -> list[str]:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact, report.problem
    return [str(d) for d in report.discrepancies]


async def _everything_stored(rt: Runtime) -> str:
    async with rt.session(read_only=True) as session:
        rows: list[object] = []
        for table in (LedgerRow, OperationRow, StepRow):
            rows += list((await session.scalars(select(table))).all())
    return "\n".join(json.dumps(vars(r), default=str) for r in rows)


async def test_a_host_failing_in_the_second_batch_stops_the_rollout_and_all_is_undone(
    settings: Settings,
    ssh_server: SshServer,
    tool: Path,
    opened: list[Runtime],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _settings(settings, ssh_server, commands={"deploy": _on_web(tool)}, down=("web4",))
    rt = await open_runtime(opened, config)
    first = {"tag": "v0", "hosts": ["web1", "web2"], "batch_size": 2}
    rolling = {"tag": "v1", "hosts": WEB, "batch_size": 2, "max_fail_percent": 0.0}
    op = await submit(rt, request([("command.deploy", first), ("command.deploy", rolling)]))
    assert op.status is OperationStatus.SCHEDULED
    await drive(rt)

    done = await load(rt, op.operation_id)
    assert done.status is OperationStatus.ROLLED_BACK, done.status_reason
    failed = done.steps[1]
    out = failed.output
    assert [h["host"] for h in out["hosts"]] == ["web1", "web2", "web3", "web4"]
    assert (out["failed"], out["skipped"]) == (["web4"], ["web5"])
    assert out["changed"] == ["web1", "web2", "web3"]
    assert "batch 2 failed on 1 of 2 host(s)" in str(out["stopped"])
    undo = out["undo"]
    assert sorted(h["host"] for h in undo["hosts"]) == ["web1", "web2", "web3"]
    assert all(h["ok"] for h in undo["hosts"])
    assert "not started on web5" in (failed.error or "")
    # web5 never ran; each host that ran v1 had it undone there, and only those.
    assert (_ran(tool, "deploy", "v1"), _ran(tool, "undeploy", "v1")) == (3, 3)
    # The first step succeeded, so the operation's rollback undid it on its two hosts.
    assert done.steps[0].status.value == "rolled_back"
    assert sorted(h["host"] for h in done.steps[0].rollback_output["hosts"]) == ["web1", "web2"]
    assert (_ran(tool, "deploy", "v0"), _ran(tool, "undeploy", "v0")) == (2, 2)

    assert await _verified(rt) == []

    monkeypatch.setenv("COLUMNS", "250")
    render_operation(done, [])
    shown = capsys.readouterr().out
    assert "web3: ok, exit 0, changed" in shown
    assert "web4: FAILED, unchanged (host web4: SSH connection failed" in shown
    assert "web5: not started" in shown


async def test_the_failure_budget_spans_the_operations_steps(
    settings: Settings, ssh_server: SshServer, tool: Path, opened: list[Runtime]
) -> None:
    config = _settings(settings, ssh_server, commands={"deploy": _on_web(tool)}, down=("web2",))
    rt = await open_runtime(opened, config)
    common = {"hosts": ["web1", "web2", "web3"], "max_fail_percent": 100.0, "failure_budget": 2}
    op = await submit(
        rt,
        request(
            [
                ("command.deploy", {"tag": "v1", **common}),
                ("command.deploy", {"tag": "v2", **common}),
            ]
        ),
    )
    await drive(rt)

    done = await load(rt, op.operation_id)
    first, second = done.steps
    # One failure of a budget of 2: the first step ran everywhere and succeeded.
    assert first.output["failed"] == ["web2"] and first.output["failed_hosts"] == 1
    assert first.output["stopped"] is None
    # One more in the second: the budget is reached, web3 never starts.
    assert second.status.value == "failed"
    assert "failure budget reached" in str(second.output["stopped"])
    assert second.output["skipped"] == ["web3"]
    assert "1 host(s) had failed in earlier steps" in (second.error or "")
    assert done.status is OperationStatus.ROLLED_BACK, done.status_reason
    assert (_ran(tool, "deploy", "v2"), _ran(tool, "undeploy", "v2")) == (1, 1)
    assert (_ran(tool, "deploy", "v1"), _ran(tool, "undeploy", "v1")) == (2, 2)
    assert sorted(h["host"] for h in first.rollback_output["hosts"]) == ["web1", "web3"]


async def test_a_changed_host_key_is_refused_naming_the_host_and_nothing_runs(
    settings: Settings, ssh_server: SshServer, tool: Path, opened: list[Runtime], tmp_path: Path
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    known = tmp_path / "changed_known_hosts"
    known.write_text(known_hosts_line(ssh_server.port, other))
    config = _settings(settings, ssh_server, commands={"deploy": _on_web(tool)}, known_hosts=known)
    rt = await open_runtime(opened, config)
    op = await submit(rt, request([("command.deploy", {"tag": "v1", "batch_size": 5})]))
    await drive(rt)

    done = await load(rt, op.operation_id)
    assert done.status is OperationStatus.FAILED
    error = done.steps[0].error or ""
    assert "refused before any host ran" in error
    assert "host web1: its SSH host key did not match" in error
    assert calls(tool) == []


async def test_secrets_are_masked_on_every_host_and_the_preview_shows_each_command(
    settings: Settings,
    ssh_server: SshServer,
    tool: Path,
    opened: list[Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    spec = _on_web(tool, env={"TOKEN": "${DEPLOY_TOKEN}"})
    rt = await open_runtime(opened, _settings(settings, ssh_server, commands={"deploy": spec}))
    params = {"tag": "v3", "tags": ["web"], "batch_size": 2, "max_fail_percent": 50.0}
    op = await submit(rt, request([("command.deploy", params)]))

    assert op.plan is not None
    preview = op.plan.steps[0].preview
    assert preview.touches == WEB
    line = remote_command(tuple(argv(tool, "deploy", "v3")))
    for name in WEB:
        assert f"{name} ({ssh_server.user}@127.0.0.1:{ssh_server.port}): {line}" in preview.summary
    assert "in batches of 2: web1, web2 | web3, web4 | web5" in preview.summary
    assert "more than 50% of it fails" in preview.summary
    assert SECRET not in preview.summary and calls(tool) == []
    await drive(rt)

    done = await load(rt, op.operation_id)
    assert done.status is OperationStatus.COMPLETED, done.status_reason
    for outcome in done.steps[0].output["hosts"]:
        assert outcome["result"]["stdout"] == "token is ***\ndone deploy\n"
        assert outcome["result"]["stderr"] == "again ***\n"
    assert SECRET not in await _everything_stored(rt)
    assert _ran(tool, "deploy", "v3") == 5


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"hosts": ["nope"]}, "steps[0].params.hosts", "no host 'nope' in the inventory"),
        ({"hosts": ["db1"]}, "steps[0].params.hosts", "may not run on 'db1'"),
        ({"tags": ["db"]}, "steps[0].params.tags", "may not target tag 'db'"),
        ({"hosts": ["web1"], "batch_size": 0}, "steps[0].params.batch_size", "greater than"),
        ({"hosts": ["web1"], "rm": "-rf"}, "steps[0].params.rm", "Extra inputs"),
    ],
)
async def test_a_selection_outside_the_declaration_is_refused_before_anything_is_stored(
    settings: Settings,
    ssh_server: SshServer,
    tool: Path,
    opened: list[Runtime],
    params: dict[str, Any],
    field: str,
    says: str,
) -> None:
    rt = await open_runtime(
        opened, _settings(settings, ssh_server, commands={"deploy": _on_web(tool)})
    )
    with pytest.raises(InvalidRequest, match=says) as refused:
        async with rt.session() as session:
            req = request([("command.deploy", {"tag": "v1", **params})])
            await submit_operation(session, rt.powers, request=req, requester=ALICE)
            await lifecycle.commit(session)

    assert refused.value.field == field
    async with rt.session(read_only=True) as session:
        assert (await session.scalars(select(OperationRow))).all() == []
    assert calls(tool) == []


async def test_a_host_entry_changed_after_approval_refuses_the_step(
    settings: Settings, ssh_server: SshServer, tool: Path, opened: list[Runtime]
) -> None:
    spec = _on_web(tool)
    before = await open_runtime(opened, _settings(settings, ssh_server, commands={"deploy": spec}))
    await before.check_governance(writer="server", adopt=True)
    op = await submit(before, request([("command.deploy", {"tag": "v1", "hosts": ["web1"]})]))
    assert op.status is OperationStatus.SCHEDULED

    # web5 (not even selected) now points elsewhere: the addresses approved are not these.
    moved = _settings(
        settings, ssh_server, commands={"deploy": spec}, web5={"address": "127.0.0.2"}
    )
    after = await open_runtime(opened, moved)
    assert await after.check_governance(writer="server", adopt=True)
    await drive(after)

    done = await load(after, op.operation_id)
    assert done.status is OperationStatus.FAILED
    assert "declaration of command.deploy changed since approval" in (done.status_reason or "")
    assert calls(tool) == []


@pytest.mark.parametrize("name", ["hosts", "tags", "batch_size", "failure_budget"])
def test_a_parameter_named_like_the_host_selection_is_refused_at_load(
    tool: Path, tmp_path: Path, name: str
) -> None:
    known = tmp_path / "known_hosts"
    known.touch()
    spec = deploy_spec(tool, hosts=["web1"], params={"tag": {"type": "str"}, name: {"type": "str"}})
    with pytest.raises(ValidationError, match=rf"params\.{name}: a command on hosts takes"):
        Settings(
            home=tmp_path,
            hosts={"web1": {"address": "127.0.0.1", "user": "deploy"}},
            known_hosts=known,
            commands={"deploy": spec},
        )


async def test_without_a_rollback_argv_a_stopped_rollout_says_there_is_nothing_to_undo(
    settings: Settings, ssh_server: SshServer, tool: Path, opened: list[Runtime]
) -> None:
    once = _on_web(tool, rollback_argv=None, reversible=False)
    config = _settings(settings, ssh_server, commands={"once": once}, down=("web2",))
    rt = await open_runtime(opened, config)
    op = await submit(rt, request([("command.once", {"tag": "v5", "hosts": WEB[:3]})]))
    assert op.status is OperationStatus.AWAITING_APPROVAL  # irreversible: a person approves
    await _approve(rt, op.operation_id)
    await drive(rt)

    done = await load(rt, op.operation_id)
    out = done.steps[0].output
    assert done.status is OperationStatus.FAILED
    assert (out["changed"], out["failed"], out["skipped"]) == (["web1"], ["web2"], ["web3"])
    assert "undo" not in out and calls(tool) == [["deploy", "v5"]]
    action = rt.powers.actions.get("command.once")
    params = action.parse({"tag": "v5", "hosts": ["web1"]})
    said = await action.rollback(None, params, out)  # type: ignore[arg-type]
    assert said == {"undone": False, "reason": "command.once has nothing to undo"}


def test_the_settings_know_every_host_selection_field() -> None:
    assert set(HOST_SELECTION) == set(HostSelection.model_fields)
