"""A command-on-hosts step's output for people: one line per host, then why it stopped."""

from __future__ import annotations

import json

from pydantic import JsonValue

__all__ = ["step_detail"]


def _host_line(record: dict[str, JsonValue]) -> str:
    result = record.get("result")
    parts = ["ok" if record.get("ok") else "FAILED"]
    if isinstance(result, dict):
        if result.get("timed_out"):
            parts.append("timed out")
        elif result.get("exit_code") is not None:
            parts.append(f"exit {result['exit_code']}")
    parts.append("changed" if record.get("changed") else "unchanged")
    line = f"{record.get('host')}: {', '.join(parts)}"
    error = record.get("error")
    if error and isinstance(result, dict):
        tail = str(result.get("stderr") or "").strip().splitlines()
        line += f" ({error}{'; ' + tail[-1] if tail else ''})"
    elif error:
        line += f" ({error})"
    return line


def host_lines(output: dict[str, JsonValue] | None, *, indent: str = "") -> list[str] | None:
    """Return one line per host of a rollout's output, or None when it is not one."""
    hosts = (output or {}).get("hosts")
    if not isinstance(hosts, list) or not all(
        isinstance(h, dict) and "host" in h and "ok" in h for h in hosts
    ):
        return None
    assert output is not None
    lines = [indent + _host_line(h) for h in hosts if isinstance(h, dict)]
    skipped = output.get("skipped")
    if isinstance(skipped, list):
        lines += [f"{indent}{name}: not started" for name in skipped]
    if output.get("stopped"):
        lines.append(f"{indent}stopped: {output['stopped']}")
    undo = output.get("undo")
    if isinstance(undo, dict):
        lines.append(f"{indent}undo:")
        lines += host_lines(undo, indent=indent + "  ") or []
    return lines


def step_detail(
    error: str | None,
    output: dict[str, JsonValue] | None,
    rollback_output: dict[str, JsonValue] | None = None,
) -> str:
    """Return what a step's row shows: its error, or per-host lines, or its output as JSON."""
    lines = host_lines(output)
    if lines is None:
        return error or (json.dumps(output) if output else "")
    shown = [error] if error else []
    shown += lines
    undone = host_lines(rollback_output, indent="  ")
    if undone:
        shown += ["rollback:", *undone]
    return "\n".join(shown)
