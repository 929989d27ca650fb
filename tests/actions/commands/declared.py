"""Declared commands over a real runtime: a tool script that records how it was called."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from triadops.runtime import Runtime
from triadops.settings import Settings

TOOL = """
import json, os, sys
log, what = sys.argv[1], sys.argv[2]
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[2:]) + "\\n")
if os.environ.get("TOKEN"):
    print("token is " + os.environ["TOKEN"])
    print("again " + os.environ["TOKEN"], file=sys.stderr)
if what == "fail":
    print("about to fail", file=sys.stderr)
    sys.exit(7)
print("done " + what)
"""


@pytest.fixture
def tool(tmp_path: Path) -> Path:
    """A script that appends its arguments (as JSON) to ``calls.jsonl`` beside it."""
    path = tmp_path / "tool.py"
    path.write_text(TOOL)
    return path


def calls(tool: Path) -> list[list[str]]:
    """Return the argument lists the tool was called with, in order."""
    log = tool.parent / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def argv(tool: Path, *args: str) -> list[str]:
    """The argv of a command declaration running the tool."""
    return [sys.executable, str(tool), str(tool.parent / "calls.jsonl"), *args]


def deploy_spec(tool: Path, **overrides: Any) -> dict[str, Any]:
    """A low-risk, reversible ``deploy`` declaration with a tag parameter."""
    return {
        "description": "deploy a tag",
        "argv": argv(tool, "deploy", "{tag}"),
        "rollback_argv": argv(tool, "undeploy", "{tag}"),
        "params": {"tag": {"type": "str", "pattern": r"v[0-9]+(\.[0-9]+)*"}},
        "risk": "low",
        "reversible": True,
        "idempotent": True,
        "timeout_s": 30,
        **overrides,
    }


def with_commands(settings: Settings, **commands: dict[str, Any]) -> Settings:
    """The fixture's settings with these commands declared."""
    return Settings(
        home=settings.home,
        database_url=settings.database_url,
        monitor=False,
        commands=commands,
    )


@pytest.fixture
async def opened() -> AsyncIterator[list[Runtime]]:
    """Runtimes a test opens (closed after it)."""
    runtimes: list[Runtime] = []
    try:
        yield runtimes
    finally:
        for rt in runtimes:
            await rt.close()


async def open_runtime(opened: list[Runtime], settings: Settings) -> Runtime:
    rt = await Runtime.open(settings, migrate=False)
    opened.append(rt)
    return rt


def _toml_value(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists read the same in TOML


def toml_of(commands: dict[str, dict[str, Any]]) -> str:
    """Write command declarations as the ``[commands.<name>]`` tables of a triad.toml."""
    lines: list[str] = []
    for name, spec in commands.items():
        lines.append(f"[commands.{name}]")
        tables = {k: v for k, v in spec.items() if isinstance(v, dict)}
        lines += [f"{k} = {_toml_value(v)}" for k, v in spec.items() if k not in tables]
        for key, table in tables.items():
            if key == "params":
                for param, declared in table.items():
                    lines.append(f"[commands.{name}.params.{param}]")
                    lines += [f"{k} = {_toml_value(v)}" for k, v in declared.items()]
            else:
                lines.append(f"[commands.{name}.{key}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
