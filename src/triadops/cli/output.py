"""Rendering for people (Rich) and for programs (``--json``: JSON on stdout and nothing else)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from triadops.cli.host_outcomes import step_detail
from triadops.cli.hosts import remote_target
from triadops.cli.views import OperationLine
from triadops.domain.acknowledgements import acknowledgement_of
from triadops.domain.agents import AgentReport
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operations import Operation, Plan, PlanningResult, StepPreview
from triadops.domain.progress import StepProgress


def visible(text: str, *, multiline: bool = False) -> str:
    r"""Return `text` with each character a terminal would act on or hide written as an escape.

    Control characters (C0, DEL, C1 such as the 8-bit CSI), bidi overrides, zero-width and
    line-separator characters become Python's escape for them (ESC is the four characters
    ``\x1b``): text from users and targets then cannot clear the screen, retitle the window,
    move the cursor or reorder a line. With `multiline`, a plain newline stays a newline.
    """
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or (multiline and ch == "\n")
        else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


class _VisibleConsole(Console):
    """A console that passes every string it renders through `visible` (one line each).

    Every ``print`` of a string and every string cell of a table comes through here, so no
    renderer can forget to escape what users or targets wrote; a multi-line cell is a
    ``Text`` made from ``visible(..., multiline=True)``.
    """

    def render_str(self, text: str, **options: Any) -> Text:
        """Render `text` with its control characters escaped."""
        return super().render_str(visible(text), **options)


PIPED_WIDTH = 200
"""The width of output that goes to no terminal at all (a file, a log): long lines kept."""


def output_width(stream: TextIO) -> int | None:
    """Return the width to render at; None lets Rich ask the terminal.

    ``COLUMNS`` wins (Rich reads it); a terminal is asked; output piped from a terminal
    (``triad ops list | less``) fits the terminal stderr still shows; only output that
    reaches no terminal gets the wide `PIPED_WIDTH`.
    """
    if os.environ.get("COLUMNS") or stream.isatty():
        return None
    try:
        return os.get_terminal_size(sys.__stderr__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):
        return PIPED_WIDTH


def console(*, stderr: bool = False) -> Console:
    """Return a console that prints text as given (no markup), control characters escaped.

    Lines of text are never broken (the terminal wraps them, and a pipe or grep sees each
    whole); only tables are fitted to the width.
    """
    stream = sys.stderr if stderr else sys.stdout
    return _VisibleConsole(
        stderr=stderr,
        markup=False,
        highlight=False,
        emoji=False,
        width=output_width(stream),
        soft_wrap=True,
    )


def fitted_table(*columns: str, title: str | None = None) -> Table:
    """Return a table that fits a narrow terminal: its cells fold rather than being cut.

    The first column (an id, mostly) never wraps, so it can be copied and grepped whole.
    """
    table = Table(title=title, title_justify="left")
    for number, column in enumerate(columns):
        table.add_column(column, overflow="fold", no_wrap=number == 0)
    return table


def emit_json(data: object) -> None:
    """Print `data` as JSON on stdout; models in it are dumped in JSON mode."""
    typer.echo(json.dumps(_plain(data), indent=2))


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [_plain(item) for item in data]
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    return data


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _preview(preview: StepPreview) -> str:
    amounts = ", ".join(f"{k}={v:g}" for k, v in preview.amounts.items())
    touches = ", ".join(preview.touches)
    parts = [preview.summary, f"touches: {touches}" if touches else "", amounts]
    return "; ".join(p for p in parts if p)


def _plan_table(plan: Plan) -> Table:
    table = fitted_table("#", "action", "params", "risk", "reversible", "preview", title="plan")
    for step in plan.steps:
        table.add_row(
            str(step.index),
            step.action,
            json.dumps(step.params) if step.params else "",
            step.risk.value,
            "yes" if step.reversible else "no",
            _preview(step.preview),
        )
    return table


def _finding_lines(finding: PlanningResult) -> list[str]:
    lines = [f"risk: {finding.risk_level.value if finding.risk_level else '-'}"]
    lines += [f"  - {reason}" for reason in finding.risk_reasons]
    needed = ", ".join(a.value for a in finding.required_approvals) or "none (the rules approve)"
    lines.append(f"required approvals: {needed}")
    lines.append(f"schedule: {finding.scheduling_recommendation}")
    if not finding.approved:
        lines.append(f"would be rejected: {finding.rejection_reason}")
    lines += [f"advice: {note}" for note in finding.advice]
    return lines


def render_preview(plan: Plan, finding: PlanningResult) -> None:
    """Show a dry run: the plan with each step's preview, the risk and the approvals."""
    out = console()
    out.print(_plan_table(plan))
    for line in _finding_lines(finding):
        out.print(line)
    out.print("dry run: nothing was stored")


def render_outcome(op: Operation, *, frozen: bool = False) -> None:
    """Say where an operation stands, and what it waits on when it is not final."""
    out = console()
    out.print(f"{op.operation_id}: {op.status.value}")
    if op.status_reason:
        out.print(f"  reason: {op.status_reason}")
    note = _waiting_note(op, frozen=frozen)
    if note:
        out.print(f"  note: {note}")


def render_cancel(op: Operation, *, frozen: bool = False, note: str | None = None) -> None:
    """Say where a cancelled operation stands and what happens next."""
    render_outcome(op, frozen=frozen)
    console().print(f"  next: {cancel_note(op, note=note)}")


def cancel_note(op: Operation, *, note: str | None = None) -> str:
    """Say what a cancel does next: nothing (stopped), or a stop now or after the step.

    `note` is the cancel's own answer (``crown.service.cancel_answer``), when there is one.
    """
    if op.status is OperationStatus.CANCELLED:
        return "stopped; it will not run"
    return note or "cancel requested; stops after the current step"


def _waiting_note(op: Operation, *, frozen: bool) -> str | None:
    if op.status is OperationStatus.AWAITING_APPROVAL:
        needed = op.planning_result.required_approvals if op.planning_result else []
        names = ", ".join(a.value for a in needed)
        if remote_target() is not None:  # remotely the token decides who acts, not --as
            how = "approve with another principal's token (triad login or TRIAD_TOKEN)"
            return f"waits for approval by {names}: {how}"
        return f"waits for approval by {names}: triad ops approve {op.operation_id} --as <other>"
    if op.status is OperationStatus.IN_DOUBT:
        return (
            f"waits for a judicial ruling: triad ops resolve {op.operation_id} --succeeded|--failed"
        )
    if op.status is OperationStatus.SCHEDULED and frozen:
        return "held: the crown has frozen operations (triad unfreeze)"
    if op.status is OperationStatus.SCHEDULED and op.request.scheduled_time:
        return f"scheduled for {_when(op.request.scheduled_time)}; a worker will run it"
    return None


def render_review(op: Operation, *, stderr: bool = False) -> None:
    """Show the plan an approver is about to approve, with the hash the approval will name."""
    out = console(stderr=stderr)
    out.print(f"{op.operation_id}: {op.status.value}, requested by {op.request.requested_by}")
    out.print(f"description: {op.request.description}")
    if op.plan:
        out.print(_plan_table(op.plan))
    if op.planning_result and op.planning_result.required_approvals:
        needed = ", ".join(a.value for a in op.planning_result.required_approvals)
        out.print(f"needs approval by: {needed}")
    out.print(f"plan hash: {op.plan_hash or '-'}")


def _acknowledgement_line(op: Operation, timeline: Sequence[LedgerEntry]) -> str:
    """Say who acknowledged the emergency and when, or by when somebody must."""
    ack = acknowledgement_of(op.acknowledgement_deadline, timeline)
    if ack is not None:
        return ack.describe()
    if op.acknowledgement_deadline is None:
        return "acknowledged by nobody yet"
    return f"acknowledged by nobody yet (due by {_when(op.acknowledgement_deadline)})"


def render_operation(op: Operation, timeline: Sequence[LedgerEntry]) -> None:
    """Show everything about one operation, ending with its timeline from the ledger."""
    out = console()
    request = op.request
    out.print(f"{op.operation_id}: {op.status.value}", style="bold")
    if op.status_reason:
        out.print(f"reason: {op.status_reason}")
    out.print(
        f"type: {request.operation_type.value}  authority: {request.constitutional_authority.value}"
    )
    out.print(f"requested by {request.requested_by} at {_when(op.created_at)}")
    if op.via:
        out.print(f"via: {op.via}")
    out.print(f"description: {request.description}")
    if request.procedure:
        out.print(f"procedure: {request.procedure}")
    if request.emergency_priority or op.acknowledgement_deadline is not None:
        out.print(f"emergency; {_acknowledgement_line(op, timeline)}")
    if op.plan:
        out.print(f"affected systems: {', '.join(op.plan.affected_systems) or '-'}")
        out.print(f"rollback plan: {op.plan.rollback_plan or '-'}")
        out.print(f"validation criteria: {', '.join(op.plan.validation_criteria) or '-'}")
        out.print(_plan_table(op.plan))
    if op.planning_result:
        out.print("planning:")
        for line in _finding_lines(op.planning_result):
            out.print(f"  {line}")
    for a in op.approvals:
        out.print(f"approved by {a.approver} as {a.authority.value} at {_when(a.at)}")
    if op.steps:
        out.print(_steps_table(op))
    if op.implementation_result:
        impl = op.implementation_result
        out.print(
            f"implementation: success={impl.success} time={impl.execution_time_s:.3f}s "
            f"rollback={impl.rollback_triggered}"
        )
        for issue in impl.issues_encountered:
            out.print(f"  issue: {issue}")
    if op.validation_result:
        verdict = op.validation_result
        out.print(f"validation: passed={verdict.passed} score={verdict.validation_score}")
        for finding in verdict.findings:
            mark = "pass" if finding.passed else "FAIL"
            out.print(f"  {mark} {finding.name}: {finding.detail}")
    out.print(f"constitutional compliance: {op.constitutional_compliance}")
    if op.review:
        note = f" (note: {op.review.note})" if op.review.note else ""
        out.print(f"reviewed by {op.review.reviewed_by}: {op.review.lessons}{note}")
    reports = _agent_reports(op)
    if reports:
        out.print(_agents_table(reports))
    out.print(_timeline_table(timeline, title="timeline"))


def _agent_reports(op: Operation) -> list[AgentReport]:
    """The agents' consultations, in the order the branches made them."""
    reports = []
    if op.planning_result and op.planning_result.agent:
        reports.append(op.planning_result.agent)
    if op.implementation_result:
        reports += op.implementation_result.agent
    if op.validation_result and op.validation_result.agent:
        reports.append(op.validation_result.agent)
    return reports


_UNREMARKABLE: dict[str, object] = {
    "rollback_triggered": False,
    "rollback_required": False,
    "constitutional_compliance": True,
    "scheduling_recommendation": "immediate",
}
"""Answers that only say all is as usual: left out of the summary."""


def _said(report: AgentReport) -> str:
    """What an agent said, in one compact line: its verdict, then what it remarked on."""
    if not report.ok:
        return f"no valid answer: {report.error or 'unknown'}"
    parts = []
    for key, value in report.output.items():
        if value in (None, [], {}, "") or _UNREMARKABLE.get(key, ...) == value:
            continue
        if isinstance(value, list):
            parts.append(f"{key}: {'; '.join(str(v) for v in value)}")
        elif isinstance(value, dict):
            parts.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _agents_table(reports: Sequence[AgentReport]) -> Table:
    table = fitted_table("agent", "model", "ok", "latency", "tokens in/out", "said", title="agents")
    for r in reports:
        table.add_row(
            r.agent.value,
            Text(visible(r.model)),
            "yes" if r.ok else "NO",
            f"{r.latency_s:.2f}s",
            f"{r.input_tokens}/{r.output_tokens}",
            Text(visible(_said(r), multiline=True)),
        )
    return table


def amount(progress: StepProgress) -> str:
    """Bytes done of the total and the rate: ``copy 120.3 MB of 300.0 MB, 45.2 MB/s``."""
    done = decimal(progress.done_bytes)
    line = f"{progress.what} {done}"
    if progress.total_bytes is not None:
        line += f" of {decimal(progress.total_bytes)}"
        if progress.total_bytes > 0 and not progress.finished:
            line += f" ({min(progress.done_bytes / progress.total_bytes, 1.0):.0%})"
    if progress.rate_bytes_per_s is not None:
        line += f", {decimal(int(progress.rate_bytes_per_s))}/s"
    return line


def _steps_table(op: Operation) -> Table:
    table = fitted_table(
        "#", "action", "status", "started", "ended", "duration", "output / error", title="steps"
    )
    for s in op.steps:
        detail = step_detail(s.error, s.output, s.rollback_output)
        if s.status is StepStatus.RUNNING and s.progress is not None:
            detail = amount(s.progress)
        if s.rollback_error:
            detail += f" (rollback failed: {s.rollback_error})"
        duration = f"{s.duration_s:.3f}s" if s.duration_s is not None else "-"
        table.add_row(
            str(s.index),
            s.action,
            s.status.value,
            _when(s.started_at),
            _when(s.ended_at),
            duration,
            Text(visible(detail, multiline=True)),
        )
    return table


def _timeline_table(entries: Sequence[LedgerEntry], *, title: str | None = None) -> Table:
    table = fitted_table(
        "seq", "at", "actor", "event", "operation", "change", "details", title=title
    )
    for e in entries:
        change = f"{e.from_status or ''} -> {e.to_status}" if e.to_status else ""
        table.add_row(
            str(e.seq),
            _when(e.at),
            e.actor,
            e.event,
            e.operation_id or "",
            change,
            Text(visible(json.dumps(e.details)) if e.details else ""),
        )
    return table


def render_entries(entries: Sequence[LedgerEntry]) -> None:
    """Show ledger entries, oldest first."""
    console().print(_timeline_table(entries))


def render_operations(rows: Sequence[OperationLine]) -> None:
    """Show a list of operation summaries, newest first."""
    table = fitted_table("id", "status", "type", "description", "requested by", "created")
    for r in rows:
        table.add_row(
            r.operation_id,
            r.status.value,
            r.operation_type.value,
            r.description,
            r.requested_by,
            _when(r.created_at),
        )
    console().print(table if rows else "no operations")


def render_tokens(rows: Sequence[dict[str, Any]]) -> None:
    """Show tokens by name, principal, roles and dates; never a secret or a hash."""
    table = fitted_table("name", "principal", "roles", "created", "revoked")
    for r in rows:
        table.add_row(
            r["name"],
            r["principal"],
            ", ".join(r["roles"]),
            r["created_at"],
            r["revoked_at"] or "-",
        )
    console().print(table if rows else "no tokens")
