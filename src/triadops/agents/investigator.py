"""The investigator: an agent that reads logs, health, alerts and operations, and never acts.

It is handed only the readers of `ops.runbooks.evidence` (none writes), under a budget of tool
calls, requests, tokens and time, each result cut to ``agents.investigator_result_bytes`` and
scrubbed of keys before the model sees it. Its answer is checked here: evidence must cite a
result it was given, and a proposed runbook or procedure must be in the catalogues (an unknown
name is dropped with a note). What it proposes is never submitted by it: a person may.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.toolsets import FunctionToolset
from pydantic_ai.usage import UsageLimits

from triadops.actions.procedures import ProcedureCatalogue
from triadops.agents.answers import DATA_RULE, Said, Short
from triadops.agents.consult import Consultant, as_data
from triadops.domain.errors import NotFound
from triadops.domain.investigations import Evidence, Investigation, Proposal, ToolResult
from triadops.domain.runbooks import Incident
from triadops.ops.runbooks.evidence import Evidence as Readers

INSTRUCTIONS = (
    "You are the investigator of an operations control plane. A troubleshooting run found "
    "what its diagnostics show; find the likely cause with your read-only tools (logs, "
    "health, alerts, operations), then give a hypothesis, the evidence for it (each item "
    "citing the id of a tool result, r1, r2…, and the lines or ids in it), and at most one "
    "runbook or procedure from the catalogues offered that would fix it. You cannot act: "
    "nothing you say is run; a person decides. " + DATA_RULE
)
EXHAUSTED = ("usage limit reached", "timed out")
"""How a consultation that ran out of its budget is described (`consult.describe`)."""


class Cited(BaseModel):
    """One piece of evidence as the model gives it."""

    result: Short
    """The id of the tool result it rests on (r1, r2…)."""
    lines: list[Said] = Field(default_factory=list, max_length=20)
    ids: list[Short] = Field(default_factory=list, max_length=20)
    note: Said = ""


class InvestigatorOutput(BaseModel):
    """The investigator's answer."""

    hypothesis: Said
    evidence: list[Cited] = Field(default_factory=list, max_length=20)
    runbook: Short | None = None
    """A runbook of the catalogue offered, or none."""
    procedure: Short | None = None
    """A procedure of the catalogue offered, or none."""


class Reads:
    """The tool results handed to the model: numbered, scrubbed, cut to size."""

    def __init__(self, consultant: Consultant, cap: int) -> None:
        self.consultant = consultant
        self.cap = cap
        self.results: list[ToolResult] = []
        self.texts: dict[str, str] = {}
        """Each result's text as handed over, by id: a quoted line must be in it."""

    def hand(self, tool: str, args: dict[str, str | int | None], data: Any) -> str:
        """Record one result and return it as the model gets it."""
        rid = f"r{len(self.results) + 1}"
        text = self.consultant.scrubbed(as_data({"result": rid, "tool": tool, "data": data}))
        raw = text.encode()
        cut = len(raw) > self.cap
        if cut:
            text = raw[: self.cap].decode("utf-8", "ignore") + f"\n[cut: {len(raw)} bytes]"
        self.results.append(
            ToolResult(id=rid, tool=tool, args=args, bytes=len(text.encode()), truncated=cut)
        )
        self.texts[rid] = text
        return text

    async def read(
        self, tool: str, args: dict[str, str | int | None], reader: Callable[[], Awaitable[Any]]
    ) -> str:
        """Run one reader; an error is a result too (its kind and first line)."""
        try:
            data = await reader()
        except Exception as exc:
            first = (str(exc).splitlines() or [""])[0][:200]
            data = {"error": f"{type(exc).__name__}: {first}"}
        return self.hand(tool, args, data)


def toolset(readers: Readers, reads: Reads) -> FunctionToolset[None]:
    """The read-only tools: nothing here writes, submits or approves."""

    async def analyze_logs(minutes: int = 60, source: str | None = None) -> str:
        """Log figures over the last `minutes`: counts by level, error templates, bursts."""
        args: dict[str, str | int | None] = {"minutes": minutes, "source": source}
        return await reads.read("analyze_logs", args, lambda: readers.log_analysis(minutes, source))

    async def search_logs(
        text: str, minutes: int = 60, source: str | None = None, limit: int = 20
    ) -> str:
        """Log lines holding `text` (a plain substring, no pattern), at most `limit` (50)."""
        text, limit = text[:200], max(1, min(limit, 50))
        args: dict[str, str | int | None] = {"text": text, "minutes": minutes, "source": source}
        return await reads.read(
            "search_logs", args, lambda: readers.log_search(text, minutes, source, limit)
        )

    async def health() -> str:
        """The newest stored health report."""
        return await reads.read("health", {}, readers.health)

    async def firing_alerts(limit: int = 20) -> str:
        """The firing alerts, newest first (at most 50)."""
        limit = max(1, min(limit, 50))
        return await reads.read("firing_alerts", {"limit": limit}, lambda: readers.alerts(limit))

    async def recent_operations(limit: int = 20) -> str:
        """The newest operations: type, procedure, state, who asked (at most 50)."""
        limit = max(1, min(limit, 50))
        return await reads.read(
            "recent_operations", {"limit": limit}, lambda: readers.operations(limit)
        )

    async def operation_steps(operation_id: str) -> str:
        """One operation's steps: action, state, output (what changed) and error."""
        oid = operation_id[:64]
        return await reads.read(
            "operation_steps", {"operation_id": oid}, lambda: readers.operation(oid)
        )

    return FunctionToolset(
        [analyze_logs, search_logs, health, firing_alerts, recent_operations, operation_steps]
    )


TOOLS = (
    "analyze_logs",
    "search_logs",
    "health",
    "firing_alerts",
    "recent_operations",
    "operation_steps",
)
"""Every tool the investigator has: all of them read."""


class Investigator:
    """Investigates an incident for a person: reads, hypothesises, proposes; never acts."""

    def __init__(
        self,
        consultant: Consultant,
        readers: Readers,
        *,
        runbooks: Collection[str],
        procedures: ProcedureCatalogue,
    ) -> None:
        """Consult through `consultant`; read through `readers`; propose from the catalogues."""
        self.consultant = consultant
        self.readers = readers
        self.runbooks = set(runbooks)
        self.procedures = procedures
        self.agent: Agent[None, InvestigatorOutput] = Agent(
            output_type=InvestigatorOutput, instructions=INSTRUCTIONS, name="triad-investigator"
        )

    def limits(self) -> UsageLimits:
        """The investigation's budget: tool calls, requests, tokens."""
        agents = self.consultant.settings.agents
        return UsageLimits(
            request_limit=agents.investigator_requests,
            tool_calls_limit=agents.investigator_tool_calls,
            total_tokens_limit=agents.total_tokens_limit,
        )

    async def investigate(self, incident: Incident) -> Investigation:
        """Run the agent once on `incident`'s diagnosis; a failure is a finding, never raised."""
        agents = self.consultant.settings.agents
        reads = Reads(self.consultant, agents.investigator_result_bytes)
        answer = await self.consultant.ask(
            self.agent,
            self.consultant.scrubbed(self.prompt(incident)),
            operation_id=None,
            toolsets=[toolset(self.readers, reads)],
            alert=False,
            limits=self.limits(),
        )
        model = self.consultant.display
        if answer.output is None:
            error = answer.report.error or "no answer"
            if error.startswith(EXHAUSTED):
                return Investigation(
                    status="budget_exhausted",
                    model=model,
                    notes=[f"budget exhausted after {len(reads.results)} reads: {error}"],
                    reads=reads.results,
                )
            await self.consultant.alarm_failed(answer.report, operation_id=None)
            return Investigation(status="failed", model=model, notes=[error], reads=reads.results)
        return self.checked(answer.output, reads, model)

    def checked(self, out: InvestigatorOutput, reads: Reads, model: str) -> Investigation:
        """Keep what rests on the reads and the catalogues; note what was dropped.

        Evidence must cite a result it was given and quote only lines that result holds; a
        proposed runbook or procedure must be in the catalogue.
        """
        by_id = {r.id: r for r in reads.results}
        notes: list[str] = []
        evidence = []
        for item in out.evidence:
            read = by_id.get(item.result)
            if read is None:
                notes.append(f"evidence citing {item.result!r} dropped: no such tool result")
                continue
            quoted = [line for line in item.lines if line in reads.texts[read.id]]
            if len(quoted) < len(item.lines):
                notes.append(
                    f"{len(item.lines) - len(quoted)} line(s) quoted from {read.id} dropped: "
                    "not in that result"
                )
            evidence.append(
                Evidence(result=read.id, tool=read.tool, lines=quoted, ids=item.ids, note=item.note)
            )
        proposal = Proposal()
        if out.runbook is not None:
            if out.runbook in self.runbooks:
                proposal.runbook = out.runbook
                proposal.command = f"triad troubleshoot {out.runbook}"
            else:
                notes.append(f"proposed runbook {out.runbook!r} dropped: not in the catalogue")
        if out.procedure is not None:
            try:
                self.procedures.get(out.procedure)
            except NotFound:
                notes.append(f"proposed procedure {out.procedure!r} dropped: not in the catalogue")
            else:
                proposal.procedure = out.procedure
                proposal.command = f"triad ops submit --procedure {shlex.quote(out.procedure)}"
        return Investigation(
            status="done",
            model=model,
            hypothesis=out.hypothesis,
            evidence=evidence,
            proposal=proposal,
            notes=notes,
            reads=reads.results,
        )

    def prompt(self, incident: Incident) -> str:
        """The incident's diagnosis and the catalogues to propose from, as data."""
        found = [f.model_dump(mode="json") for f in incident.diagnosis]
        offered = [
            {"procedure": p.name, "description": p.description, "risk": p.risk.value}
            for p in self.procedures
        ]
        return "\n".join(
            [
                f"Runbook {incident.runbook} ({incident.title}) diagnosed:",
                as_data(found),
                "Runbooks you may propose:",
                as_data(sorted(self.runbooks)),
                "Procedures you may propose:",
                as_data(offered),
            ]
        )
