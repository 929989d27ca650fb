"""What the triad's agents are called and what is kept of each consultation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, JsonValue

from triadops.domain.enums import Authority


class AgentName(StrEnum):
    """The triad's agents: one per branch that consults a model, and the investigator."""

    PLANNER = "planner"
    EXECUTOR = "executor"
    EVALUATOR = "evaluator"
    INVESTIGATOR = "investigator"
    """Reads logs, health, alerts and operations for a person; it advises, never acts."""

    @property
    def branch(self) -> Authority:
        """The branch the agent advises."""
        return _BRANCH[self]

    @property
    def actor(self) -> str:
        """The agent's name in the ledger: it advises, it never holds an authority."""
        return f"agent:{self.value}"


_BRANCH = {
    AgentName.PLANNER: Authority.LEGISLATIVE,
    AgentName.EXECUTOR: Authority.EXECUTIVE,
    AgentName.EVALUATOR: Authority.JUDICIAL,
    AgentName.INVESTIGATOR: Authority.JUDICIAL,
}

BRANCH_AGENTS = (AgentName.PLANNER, AgentName.EXECUTOR, AgentName.EVALUATOR)
"""The agents a branch consults on operations: those whose calls are counted and checked
(``triad agents health|check``); the investigator answers a person, outside any operation."""

RULES = "rules"
"""The model setting that consults no model: the rules alone decide."""


class AgentReport(BaseModel):
    """One consultation of an agent: who, which model, what it said, what it cost.

    Kept on the operation beside the rules' finding and in the ledger. `model` is the
    configured model's display name: never a key, never a URL's credentials.
    """

    agent: AgentName
    model: str
    ok: bool
    """False when the model timed out, failed or gave no valid answer: the decision then
    went to a person (the planner) or failed (the evaluator, the executor)."""
    output: dict[str, JsonValue] = Field(default_factory=dict)
    """The agent's structured answer as it gave it (empty when it gave none)."""
    error: str | None = None
    """What went wrong, in one line, without the request or any key."""
    latency_s: float = 0.0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    at: datetime

    @property
    def tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens
