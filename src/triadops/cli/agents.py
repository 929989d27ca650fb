"""``triad agents health`` and ``triad agents check``: how the AI triad's models answer.

``health`` reads the recorded calls over ``agents.window_s`` and asks no model. ``check``
asks each configured agent's model one tiny question now, records the calls, prints a
table and one ``error:`` line on stderr per agent that failed, and then exits 1; with
``model = "rules"`` it has nothing to ask and exits 0. Only ``check`` loads the agent
framework, and only when a model is configured.
"""

from __future__ import annotations

import logging
from contextlib import closing
from datetime import datetime

import typer
from rich.table import Table

from triadops.cli.context import JsonFlag, load_settings, run
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.cli.views import AgentCheckLine
from triadops.domain.clock import utcnow
from triadops.ops.agents_health import AgentsHealth, agents_health
from triadops.runtime import Runtime


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


app = typer.Typer(help="See whether the AI triad's models answer.", no_args_is_help=True)

RULES_ONLY = "no agent consults a model (model = rules): nothing to check"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _answering(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[value]


@app.command("health")
def health(as_json: JsonFlag = False) -> None:
    """Show each agent's model, and its calls, errors, latency and tokens in the window.

    Remotely, the server's agents: the models it consults and the calls it recorded.
    """
    client = remote()
    if client is not None:
        with closing(client):
            found = client.agents_health()
    else:

        async def work(rt: Runtime) -> AgentsHealth:
            async with rt.session(read_only=True) as session:
                return await agents_health(session, rt.settings, now=utcnow())

        found = run(work)
    if as_json:
        emit_json(found)
        return
    table = _table(
        "agent",
        "model",
        "answering",
        "calls",
        "errors",
        "p50",
        "p95",
        "tokens",
        "last call",
        "last error",
        title=f"agents over the last {found.window_s:g} s",
    )
    for agent in found.agents:
        rate = "" if agent.error_rate is None else f" ({agent.error_rate:.0%})"
        table.add_row(
            agent.agent.value,
            agent.model,
            _answering(agent.answering),
            str(agent.calls),
            f"{agent.errors}{rate}",
            _seconds(agent.latency_p50_s),
            _seconds(agent.latency_p95_s),
            str(agent.tokens),
            _when(agent.last_call_at),
            agent.last_error or "",
        )
    console().print(table)


@app.command("check")
def check(as_json: JsonFlag = False) -> None:
    """Hold each configured agent to its contract on a drill now; exit 1 if any broke it.

    Remotely the server checks its own agents, where their model keys live.
    """
    client = remote()
    if client is not None:
        with closing(client):
            checks = client.agents_check()
    elif not load_settings().consults_models:
        checks = []
    else:

        async def work(rt: Runtime) -> list[AgentCheckLine]:
            # Only now: the agent framework is loaded for a configured model alone.
            from triadops.agents.check import check_agents

            assert rt.agents is not None, "a model is configured, so the runtime built agents"
            return [AgentCheckLine.model_validate(c) for c in await check_agents(rt.agents)]

        # A failure is reported below, once; the consultant's warning would repeat it.
        checks = run(work, creates=True, log_level=logging.ERROR)
    if not checks:
        if as_json:
            emit_json({"ok": True, "agents": []})
        else:
            console().print(RULES_ONLY)
        return
    failed = [c for c in checks if not c.ok]
    if as_json:
        emit_json({"ok": not failed, "agents": checks})
    else:
        _render_checks(checks)
    if failed:
        raise typer.Exit(1)


def _render_checks(checks: list[AgentCheckLine]) -> None:
    """Print the table on stdout, then each failure as one ``error:`` line on stderr."""
    table = _table("agent", "model", "ok", "latency", "tokens in/out")
    for c in checks:
        table.add_row(
            c.agent.value,
            c.model,
            "ok" if c.ok else "FAILED",
            _seconds(c.latency_s),
            f"{c.input_tokens}/{c.output_tokens}",
        )
    console().print(table)
    errors = console(stderr=True)
    for c in checks:
        if not c.ok:
            line = " ".join(f"{c.agent.value} ({c.model}): {c.error}".split())
            errors.print(f"error: {line}", soft_wrap=True)
