"""The constitution's policy: every branch's gates, registered in the lifecycle's books.

Each branch keeps its rules beside its service and registers them when that module loads;
the branches cannot import each other, so no branch can load the rest. This module loads
them all, and the runtime and the journey import it: a process that changes states holds
every gate, whichever service it happened to import first.
"""

from __future__ import annotations

from triadops.constitution import lifecycle
from triadops.constitution.crown import service as crown
from triadops.constitution.executive import blackouts, crown_consent, windows
from triadops.constitution.judicial import service as judicial
from triadops.constitution.legislative import amendment, approvals, sop

GATES: tuple[type[lifecycle.OperationRule], ...] = (
    crown.RequesterOrCrown,
    crown.StillCancellable,
    crown.AskedToStopOnce,
    amendment.NotYetRunning,
    amendment.RequesterOrLegislator,
    amendment.RequestUnchanged,
    amendment.PlanChanges,
    *approvals.APPROVAL_RULES,
    approvals.AwaitingDecision,
    approvals.LegislatorOrCrownRejects,
    *sop.SOP_RULES,
    judicial.JudgeOrCrown,
    judicial.InDoubt,
    blackouts.OutsideBlackouts,
    windows.InsideItsWindow,
    crown_consent.CriticalNeedsTheCrown,
)
"""The operation's gates, by branch: what the books must hold once this module is loaded."""

STEP_GATES: tuple[type[lifecycle.StepRule], ...] = (judicial.JudgeRulesTheStep,)
"""The step's gates."""


def missing_gates() -> list[str]:
    """Name the gates the books lack (none, once every branch's rules are loaded)."""
    held = {type(rule) for rule in (*lifecycle.OPERATIONS.rules, *lifecycle.STEPS.rules)}
    return [gate.__name__ for gate in (*GATES, *STEP_GATES) if gate not in held]
