"""The lifecycle's rule books hold every branch's gates, and no caller of transition() skips one."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import lifecycle, policy
from triadops.constitution.crown import service as crown
from triadops.constitution.judicial import service as judicial
from triadops.constitution.legislative import amendment, approvals
from triadops.domain.enums import OperationStatus as S
from triadops.domain.enums import Role
from triadops.domain.enums import StepStatus as St
from triadops.domain.errors import Forbidden
from triadops.domain.identity import Identity
from triadops.storage.tables import OperationRow, StepRow

MALLORY = Identity(name="mallory", roles=frozenset({Role.EXECUTIVE}))


def test_every_gate_is_in_the_books() -> None:
    assert policy.missing_gates() == []


def test_each_edge_compiles_its_branchs_gates_in_order() -> None:
    book = lifecycle.OPERATIONS

    def on(source: S, target: S) -> list[type]:
        return [type(rule) for rule in book.rules_for(source, target)]

    assert on(S.SCHEDULED, S.CANCELLED) == [
        crown.RequesterOrCrown,
        crown.StillCancellable,
        crown.AskedToStopOnce,
    ]
    assert on(S.SCHEDULED, S.REVIEWING) == [
        amendment.NotYetRunning,
        amendment.RequesterOrLegislator,
        amendment.RequestUnchanged,
        amendment.PlanChanges,
    ]
    assert on(S.AWAITING_APPROVAL, S.APPROVED) == list(approvals.APPROVAL_RULES)
    assert on(S.AWAITING_APPROVAL, S.REJECTED) == [
        approvals.AwaitingDecision,
        approvals.LegislatorOrCrownRejects,
    ]
    assert on(S.IN_DOUBT, S.EXECUTING) == [judicial.JudgeOrCrown, judicial.InDoubt]
    assert on(S.EXECUTING, S.VALIDATING) == []
    assert [type(r) for r in lifecycle.STEPS.rules_for(St.RUNNING, St.SUCCEEDED)] == [
        judicial.JudgeRulesTheStep
    ]


def test_every_rule_says_why_in_one_line() -> None:
    for rule in (*lifecycle.OPERATIONS.rules, *lifecycle.STEPS.rules):
        assert rule.reason.strip(), type(rule).__name__
        assert "\n" not in rule.reason, type(rule).__name__


@pytest.mark.parametrize(
    ("source", "target", "refusal"),
    [
        (S.SCHEDULED, S.CANCELLED, "neither requested op-g nor holds the crown role"),
        (S.SCHEDULED, S.REVIEWING, "neither requested op-g nor holds the legislative role"),
        (S.AWAITING_APPROVAL, S.REJECTED, "holds neither the legislative nor the crown role"),
        (S.IN_DOUBT, S.EXECUTING, "holds neither the judicial nor the crown role"),
    ],
)
def test_a_new_caller_of_transition_meets_the_gates(source: S, target: S, refusal: str) -> None:
    row = OperationRow(id="op-g", status=source.value, requested_by="alice")
    session = AsyncSession()  # no database: a refusal comes before anything is queued
    with pytest.raises(Forbidden, match=refusal):
        lifecycle.transition(session, lifecycle.Attempt(row, "mallory", MALLORY), target)
    assert row.status == source.value
    assert not session.info.get("triad_ledger_pending")
    # The branch carrying out a decision already taken (no principal) passes the gate.
    lifecycle.transition(session, lifecycle.Attempt(row, "rules"), target)
    assert row.status == target.value


def test_a_step_ruled_by_a_person_meets_the_judiciarys_gate() -> None:
    step = StepRow(operation_id="op-g", index=0, action="noop", status=St.RUNNING.value)
    session = AsyncSession()
    with pytest.raises(Forbidden, match="holds neither the judicial nor the crown role"):
        lifecycle.step_transition(
            session, lifecycle.StepAttempt(step, "mallory", MALLORY), St.SUCCEEDED, event="x"
        )
    assert step.status == St.RUNNING.value
