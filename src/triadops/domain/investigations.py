"""What an investigator agent found: a hypothesis, the evidence it cites, and what it proposes.

The agent only reads (logs, health, alerts, operations); what it proposes is checked against
the catalogues and never submitted by it: a person may submit it like any request.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

InvestigationStatus = Literal["done", "budget_exhausted", "failed", "off"]


class ToolResult(BaseModel):
    """One read the agent made, as it was handed to it (scrubbed, capped)."""

    id: str
    """``r1``, ``r2``…: what evidence cites."""
    tool: str
    args: dict[str, str | int | None] = Field(default_factory=dict)
    bytes: int
    """The result's size as handed over, after the cap."""
    truncated: bool = False


class Evidence(BaseModel):
    """One piece of evidence: a tool result it rests on, and which lines or ids in it."""

    result: str
    """The id of the tool result (``r1``…)."""
    tool: str
    """The tool that gave it, as recorded (never as the model claims)."""
    lines: list[str] = Field(default_factory=list, max_length=20)
    """Lines quoted from the result (scrubbed)."""
    ids: list[str] = Field(default_factory=list, max_length=20)
    """Operation, alert or file ids the result names."""
    note: str = ""


class Proposal(BaseModel):
    """What the agent proposes: a runbook or a procedure of the catalogues, never run by it."""

    runbook: str | None = None
    procedure: str | None = None
    command: str | None = None
    """The command a person may run to submit it (``triad ops submit --procedure …``)."""
    operation_id: str | None = None
    """The operation it became when the person asked (``--submit-proposal``), in their name."""


class Investigation(BaseModel):
    """An investigator's finding, stored with the incident."""

    status: InvestigationStatus
    model: str
    hypothesis: str = ""
    evidence: list[Evidence] = Field(default_factory=list)
    proposal: Proposal = Field(default_factory=Proposal)
    notes: list[str] = Field(default_factory=list)
    """What was dropped or cut short, and why (an unknown name, an uncited result, the budget)."""
    reads: list[ToolResult] = Field(default_factory=list)
    """Every tool result it was given, in order."""
