"""Troubleshooting runbooks as data: what to look at (diagnostics), what may fix it (resolutions).

A runbook names the alerts it answers, diagnostics that each read one thing (a judicial check
measured now, a health figure, a log query, the ledger's audit), and resolutions that are each
a registered action or a procedure, submitted as an operation like any other, so a runbook
adds no power: it only knows where to look and what to propose.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from triadops.domain.investigations import Investigation

NAME = r"^[a-z][a-z0-9_]{0,63}$"
DURATION = re.compile(r"^(?P<n>[1-9][0-9]{0,5})(?P<unit>[smhd])$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DIAGNOSTICS = 20
MAX_RESOLUTIONS = 10

_STRICT = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def duration_s(text: str) -> int:
    """Seconds in ``15m``, ``2h``, ``1d``; ValueError naming the form otherwise."""
    found = DURATION.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 2h or 1d")
    return int(found["n"]) * SECONDS[found["unit"]]


class LogQuery(BaseModel):
    """Count the lines of a level and up in a log source over the last while."""

    model_config = _STRICT

    source: str = Field(default="triad", min_length=1, max_length=100)
    """``triad`` (triad's own streams) or a configured service log source."""
    level: Literal["warning", "error", "critical"] = "error"
    """Lines at this level and above are counted."""
    since: str = "15m"
    """How far back: ``30s``, ``15m``, ``2h``, ``1d``."""
    at_most: int = Field(default=0, ge=0)
    """The symptom is more lines than this."""

    @model_validator(mode="after")
    def _since_is_a_duration(self) -> Self:
        duration_s(self.since)
        return self


class Diagnostic(BaseModel):
    """One thing to look at, exactly one of: a check, a health figure, a log query, the audit."""

    model_config = _STRICT

    name: str = Field(pattern=NAME)
    """Names the diagnostic in reports and in resolutions' ``when``."""
    description: str = Field(default="", max_length=500)
    check: str | None = Field(default=None, max_length=100)
    """A registered judicial check, measured now and judged against nothing (it must pass)."""
    health: str | None = Field(default=None, max_length=100, pattern=r"^[a-z0-9_.:*]+$")
    """A health check from a fresh reading, by its name or ``component.name``; ``*`` matches
    any part (``database.*.latency_s``, ``judicial.*``): the symptom is any of them failing."""
    logs: LogQuery | None = None
    ledger: Literal["verify"] | None = None
    """``verify``: the ledger's chain and the state it proves (``triad audit verify``)."""

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        given = [k for k in ("check", "health", "logs", "ledger") if getattr(self, k) is not None]
        if len(given) != 1:
            named = ", ".join(given) or "none"
            raise ValueError(
                f"a diagnostic reads exactly one of check, health, logs, ledger (given: {named})"
            )
        return self

    @property
    def kind(self) -> str:
        """Which source it reads: ``check``, ``health``, ``logs`` or ``ledger``."""
        for kind in ("check", "health", "logs", "ledger"):
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated to have one")


class Resolution(BaseModel):
    """A fix to propose: a procedure or an action, submitted as an operation when chosen."""

    model_config = _STRICT

    name: str = Field(pattern=NAME)
    description: str = Field(default="", max_length=500)
    procedure: str | None = Field(default=None, max_length=100)
    """A procedure of the catalogue (``triad procedures list``)."""
    action: str | None = Field(default=None, max_length=100)
    """A registered action, run as a one-step operation."""
    params: dict[str, JsonValue] = Field(default_factory=dict)
    """The action's or procedure's parameters."""
    when: list[str] = Field(default_factory=list, max_length=MAX_DIAGNOSTICS)
    """Diagnostics of which at least one must show its symptom for this fix to be proposed;
    empty: proposed whatever they show."""

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        if (self.procedure is None) == (self.action is None):
            raise ValueError("a resolution names exactly one of procedure or action")
        return self


class Runbook(BaseModel):
    """A troubleshooting scenario: when it applies, what to diagnose, what may resolve it."""

    model_config = _STRICT

    name: str = Field(pattern=NAME)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    alerts: list[str] = Field(default_factory=list, max_length=50)
    """Alert names this runbook answers (``triad troubleshoot`` starts it for them)."""
    diagnostics: list[Diagnostic] = Field(min_length=1, max_length=MAX_DIAGNOSTICS)
    resolutions: list[Resolution] = Field(min_length=1, max_length=MAX_RESOLUTIONS)

    @model_validator(mode="after")
    def _names_resolve(self) -> Self:
        names = [d.name for d in self.diagnostics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"diagnostic names must be unique: {', '.join(twice)}")
        fixes = [r.name for r in self.resolutions]
        twice = sorted({n for n in fixes if fixes.count(n) > 1})
        if twice:
            raise ValueError(f"resolution names must be unique: {', '.join(twice)}")
        for fix in self.resolutions:
            unknown = [w for w in fix.when if w not in names]
            if unknown:
                raise ValueError(
                    f"resolution {fix.name}: when names no diagnostic {', '.join(unknown)}"
                )
        return self


class RunbookEntry(BaseModel):
    """A runbook as the catalogue holds it: the runbook and where it came from."""

    model_config = ConfigDict(frozen=True)

    runbook: Runbook
    source: str
    """``builtin`` or the user's file."""


class Finding(BaseModel):
    """What one diagnostic found: its symptom (None: it could not tell) and the evidence."""

    name: str
    kind: str
    symptom: bool | None
    """True: the diagnostic shows the trouble; False: it does not; None: inconclusive."""
    detail: str
    evidence: dict[str, JsonValue] = Field(default_factory=dict)


class Chosen(BaseModel):
    """The resolution a troubleshooting run chose, and what became of its operation."""

    resolution: str
    procedure: str | None = None
    action: str | None = None
    because: list[str] = Field(default_factory=list)
    """The diagnostics whose symptoms made it apply."""
    operation_id: str | None = None
    status: str | None = None
    """The operation's state when the run last looked."""


class IncidentStep(BaseModel):
    """One line of an incident's timeline."""

    at: datetime
    phase: Literal["diagnose", "resolve", "validate", "document"]
    what: str


IncidentStatus = Literal["resolved", "unresolved", "no_symptoms", "resolving", "diagnosed"]
"""``resolving``: its resolution's operation had not ended (an approval, a worker) when the
run stopped waiting; the operation goes on, the report says what was seen."""


class Incident(BaseModel):
    """A troubleshooting run as stored: diagnosis, resolution, validation, and its timeline."""

    id: str
    runbook: str
    title: str
    status: IncidentStatus
    trigger: str
    """``manual`` or ``alert:<id> <name>``: what started it."""
    opened_by: str
    opened_at: datetime
    closed_at: datetime | None = None
    diagnosis: list[Finding]
    chosen: Chosen | None = None
    validation: list[Finding] = Field(default_factory=list)
    timeline: list[IncidentStep] = Field(default_factory=list)
    ledger: list[int] = Field(default_factory=list)
    """The ledger entries (seq) of the resolution's operation: its approvals, steps, verdict."""
    investigation: Investigation | None = None
    """What an investigator agent found, when one was asked (``--investigate``): it only read."""


def report_digest(report: dict[str, JsonValue]) -> str:
    """The sha256 of a stored report's canonical JSON: what the crown's ledger entry names."""
    return hashlib.sha256(orjson.dumps(report, option=orjson.OPT_SORT_KEYS)).hexdigest()


def symptoms(findings: list[Finding]) -> list[str]:
    """The names of the findings that show their symptom."""
    return [f.name for f in findings if f.symptom]


def incident_markdown(incident: Incident) -> str:
    """The incident as a post-incident report in Markdown (values as text, never as markup)."""

    def text(value: object) -> str:
        return str(value).replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")

    def table(findings: list[Finding]) -> list[str]:
        rows = ["| diagnostic | reads | symptom | detail |", "| --- | --- | --- | --- |"]
        for f in findings:
            shown = {True: "yes", False: "no", None: "inconclusive"}[f.symptom]
            rows.append(f"| {text(f.name)} | {f.kind} | {shown} | {text(f.detail)} |")
        return rows

    lines = [
        f"# Incident {incident.id}: {text(incident.title)}",
        "",
        f"- runbook: {incident.runbook}",
        f"- status: {incident.status}",
        f"- trigger: {text(incident.trigger)}",
        f"- opened by {text(incident.opened_by)} at {incident.opened_at.isoformat()}",
    ]
    if incident.closed_at is not None:
        lines.append(f"- closed at {incident.closed_at.isoformat()}")
    lines += ["", "## Diagnosis", "", *table(incident.diagnosis), "", "## Resolution", ""]
    c = incident.chosen
    if c is None:
        lines.append("None submitted.")
    else:
        target = f"procedure {c.procedure}" if c.procedure else f"action {c.action}"
        lines.append(
            f"{c.resolution} ({target}), because of {', '.join(c.because) or 'the runbook'}: "
            f"operation {c.operation_id or '-'}, {c.status or 'not submitted'}."
        )
    lines += _investigation(incident.investigation, text)
    lines += ["", "## Validation", ""]
    lines += table(incident.validation) if incident.validation else ["Not validated."]
    lines += ["", "## Timeline", ""]
    lines += [f"- {s.at.isoformat()} {s.phase}: {text(s.what)}" for s in incident.timeline]
    if incident.ledger:
        lines += ["", f"Ledger entries: {', '.join(map(str, incident.ledger))}."]
    return "\n".join(lines) + "\n"


def _investigation(found: Investigation | None, text: Callable[[object], str]) -> list[str]:
    """The investigation's section of the report: none when nobody asked for one."""
    if found is None:
        return []
    lines = ["", "## Investigation", "", f"- {found.status} ({text(found.model)})"]
    if found.hypothesis:
        lines.append(f"- hypothesis: {text(found.hypothesis)}")
    for e in found.evidence:
        quoted = "; ".join(text(x) for x in [*e.ids, *e.lines])
        lines.append(f"- evidence {e.result} ({e.tool}): {text(e.note)} {quoted}".rstrip())
    p = found.proposal
    if p.runbook or p.procedure:
        done = f"operation {p.operation_id}, at a person's request" if p.operation_id else None
        lines.append(f"- proposed: {text(p.procedure or p.runbook)} ({done or 'not submitted'})")
    lines += [f"- note: {text(n)}" for n in found.notes]
    return lines
