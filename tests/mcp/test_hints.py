"""The tools' annotations come from the action registry: change a procedure, its hint follows.

They are hints for the assistant's user, never a boundary (test_stdio and test_http show
the gates hold whatever a tool claims).
"""

from __future__ import annotations

from pathlib import Path

from mcp.types import Tool

from triadops.mcp.calls import TokenCaller
from triadops.mcp.local import LocalTools
from triadops.mcp.server import build_server
from triadops.runtime import Runtime
from triadops.settings import Settings

READS = {
    "list_procedures",
    "read_procedure",
    "read_health",
    "list_alerts",
    "list_operations",
    "read_operation",
}
CHANGES = {"submit_operation", "amend_operation", "cancel_operation"}

PROCEDURE = """
name = "{name}"
description = "a drill"
operation_type = "maintenance"
constitutional_authority = "executive"
risk = "{risk}"
rollback_plan = "nothing to restore"
validation_criteria = ["system_functionality_maintained"]

[[steps]]
action = "{action}"
{params}
"""


def write_procedure(settings: Settings, name: str, action: str, params: str = "") -> None:
    folder = settings.home / "procedures"
    folder.mkdir(exist_ok=True)
    risk = "low" if action == "noop" else "medium"
    text = PROCEDURE.format(name=name, action=action, params=params, risk=risk)
    (folder / f"{name}.toml").write_text(text)


async def tools_of(settings: Settings) -> dict[str, Tool]:
    rt = await Runtime.open(settings, migrate=False)
    try:
        server = build_server(LocalTools(rt, TokenCaller("unused")))
        return {tool.name: tool for tool in await server.list_tools()}
    finally:
        await rt.close()


async def test_the_tools_are_reads_and_requests_and_nothing_that_decides(
    settings: Settings, tmp_path: Path
) -> None:
    write_procedure(settings, "drill", "noop")
    write_procedure(
        settings, "purge", "database.purge_audit_logs", "params = { older_than_days = 30 }"
    )
    rt = await Runtime.open(settings, migrate=False)
    try:
        procedures = {f"submit_{p.name}" for p in rt.procedures}
        purge = rt.actions.get("database.purge_audit_logs")
        noop = rt.actions.get("noop")
    finally:
        await rt.close()
    tools = await tools_of(settings)

    assert set(tools) == READS | CHANGES | procedures
    for name in READS:
        hints = tools[name].annotations
        assert hints is not None and hints.read_only_hint is True, name
    for name in CHANGES | procedures:
        hints = tools[name].annotations
        assert hints is not None and hints.read_only_hint is False, name

    # From the registry: purging audit rows cannot be undone, a noop can.
    assert not purge.reversible and noop.reversible
    assert tools["submit_purge"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert tools["submit_drill"].annotations.destructive_hint is False  # type: ignore[union-attr]
    # Any steps may name the irreversible action: submitting or amending steps is destructive.
    assert tools["submit_operation"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert tools["amend_operation"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert "purge" in (tools["submit_purge"].description or "")


async def test_a_procedure_s_hint_follows_its_steps(settings: Settings) -> None:
    write_procedure(settings, "drill", "noop")
    before = (await tools_of(settings))["submit_drill"].annotations
    write_procedure(
        settings, "drill", "database.purge_audit_logs", "params = { older_than_days = 30 }"
    )
    after = (await tools_of(settings))["submit_drill"].annotations
    assert before is not None and before.destructive_hint is False
    assert after is not None and after.destructive_hint is True
