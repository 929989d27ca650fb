"""The judiciary: measures before and after, and rules on whether the operation worked.

Verdicts come from registered checks only; the executive's own report is never evidence.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.checks.base import CheckContext, Measurement
from triadops.constitution import lifecycle
from triadops.constitution.advisors import VerdictAdvice
from triadops.constitution.judicial import evidence
from triadops.constitution.lifecycle import Attempt, OperationRule, StepAttempt, StepRule
from triadops.constitution.powers import Powers, action_context
from triadops.domain.enums import Authority, OperationStatus, StepStatus
from triadops.domain.errors import Conflict, Forbidden, TriadError
from triadops.domain.identity import Identity
from triadops.domain.operations import CheckResult, Operation, ValidationResult
from triadops.storage import operations as store
from triadops.storage.tables import OperationRow, StepRow

JUDGE = "judicial:rules"
log = structlog.stdlib.get_logger(__name__)


def database_targets(operation: Operation) -> list[str]:
    """Return the databases the plan works on (triad's own when it names none)."""
    steps = operation.plan.steps if operation.plan else []
    names = {
        str(s.params.get("target", "triad")) for s in steps if s.action.startswith("database.")
    }
    return sorted(names) or ["triad"]


def _context(powers: Powers, operation: Operation) -> CheckContext:
    return CheckContext(
        settings=powers.settings,
        databases=powers.databases,
        own=powers.engine,
        operation=operation,
        database_targets=database_targets(operation),
    )


async def measure_before(powers: Powers, operation: Operation) -> dict[str, JsonValue]:
    """Take each criterion's 'before' measurement; a failure to measure is recorded, not raised."""
    ctx = _context(powers, operation)
    baseline: dict[str, JsonValue] = {}
    for name in _criteria(operation):
        try:
            baseline[name] = await _measure(powers, name, ctx)
        except Exception as exc:  # recorded; validation then fails this criterion
            baseline[name] = {"error": _describe(exc)}
    return baseline


async def _measure(powers: Powers, name: str, ctx: CheckContext) -> Measurement:
    """Take one measurement within the check time budget."""
    budget = powers.settings.check_timeout_s
    try:
        return await asyncio.wait_for(powers.checks.get(name).measure(ctx), timeout=budget)
    except TimeoutError:
        raise TimeoutError(f"took longer than its {budget:g} s budget") from None


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def validate(
    powers: Powers, operation: Operation, baseline: dict[str, JsonValue]
) -> ValidationResult:
    """Measure again, judge each criterion, then let the advisor make it stricter only."""
    ctx = _context(powers, operation)
    findings: list[CheckResult] = []
    failed_steps = [s for s in operation.steps if s.status is not StepStatus.SUCCEEDED]
    findings.append(
        CheckResult(
            name="steps_completed",
            passed=not failed_steps,
            detail=f"{len(operation.steps) - len(failed_steps)} of {len(operation.steps)} "
            "steps succeeded by their own records",
        )
    )
    for name in _criteria(operation):
        check = powers.checks.get(name)
        before = baseline.get(name)
        if not isinstance(before, dict) or "error" in before:
            # Comparing "after" with itself would pass anything: unmeasured is failed.
            why = before.get("error") if isinstance(before, dict) else "no measurement"
            findings.append(
                CheckResult(
                    name=name,
                    passed=False,
                    detail=f"could not be measured before the operation ran ({why}); "
                    "there is nothing to compare with",
                )
            )
            continue
        try:
            after = await _measure(powers, name, ctx)
            findings.append(check.judge(ctx, before, after))
        except Exception as exc:  # could not measure: that is a failed check, not a pass
            findings.append(
                CheckResult(name=name, passed=False, detail=f"could not measure: {_describe(exc)}")
            )
    alerts = await _alert_evidence(ctx)
    if alerts is not None:
        findings.append(alerts)
    passed = all(f.passed for f in findings)
    verdict = ValidationResult(
        passed=passed,
        validation_score=round(sum(f.passed for f in findings) / len(findings), 4),
        findings=findings,
        rollback_required=not passed,
    )
    if alerts is not None and not alerts.passed:
        verdict.recommendations.extend(_held_for_a_person(powers, operation))
    if powers.verdict_advisor is None:
        return verdict
    try:
        advice = await powers.verdict_advisor.advise(operation, verdict)
    except Exception as exc:  # an advisor's bug fails closed, like its model
        log.warning("evaluator failed", operation_id=operation.operation_id, error=_describe(exc))
        advice = VerdictAdvice(failed=True)
    return stricter(verdict, advice)


async def halting_evidence(powers: Powers, operation: Operation) -> ValidationResult | None:
    """Return a failed verdict when a loud alert on a changed system should stop the change.

    Read between steps, outside any transaction. A failure to read lets the next step run:
    validation reads again, and there an unreadable record fails the change.
    """
    if not evidence.changed_systems(operation):
        return None
    try:
        found = await evidence.loud_alerts_during(_context(powers, operation))
    except Exception as exc:
        log.warning("alerts unreadable", operation_id=operation.operation_id, error=_describe(exc))
        return None
    if found is None or found.passed:
        return None
    verdict = ValidationResult(
        passed=False, validation_score=0.0, findings=[found], rollback_required=True
    )
    verdict.recommendations.extend(_held_for_a_person(powers, operation))
    return verdict


async def _alert_evidence(ctx: CheckContext) -> CheckResult | None:
    """Judge the loud alerts on the changed systems; unreadable evidence fails the verdict."""
    try:
        return await evidence.loud_alerts_during(ctx)
    except Exception as exc:  # the alerts could not be read: nobody can vouch for the change
        return CheckResult(
            name=evidence.FINDING, passed=False, detail=f"could not read alerts: {_describe(exc)}"
        )


def _held_for_a_person(powers: Powers, operation: Operation) -> list[str]:
    """Name the steps a rollback cannot undo: what the alert found stays for a person."""
    systems = ", ".join(evidence.changed_systems(operation))
    return [
        f"step {step.index} ({step.action}) cannot be undone by a rollback: a person must "
        f"check {systems} by hand"
        for step in operation.steps
        if step.status is StepStatus.SUCCEEDED and not powers.actions.get(step.action).reversible
    ]


def stricter(verdict: ValidationResult, advice: VerdictAdvice) -> ValidationResult:
    """Apply an evaluator's advice, which can fail a verdict and never pass one.

    An evaluator that gave no valid answer fails the verdict: nobody vouched for the change.
    """
    verdict = verdict.model_copy(deep=True)
    verdict.agent = advice.report
    verdict.recommendations.extend(advice.recommendations)
    if advice.failed:
        why = advice.report.error if advice.report and advice.report.error else "no answer"
        finding = f"the evaluator agent gave no valid answer ({why}); failing closed"
    elif advice.fail:
        finding = advice.reason or "the evaluator failed it"
    else:
        return verdict
    verdict.passed = False
    verdict.rollback_required = True
    verdict.findings.append(CheckResult(name="advisor", passed=False, detail=finding))
    verdict.validation_score = round(
        sum(f.passed for f in verdict.findings) / len(verdict.findings), 4
    )
    return verdict


def _criteria(operation: Operation) -> list[str]:
    return operation.plan.validation_criteria if operation.plan else []


async def probe(powers: Powers, step: StepRow) -> bool | None:
    """Ask the action whether an interrupted run took effect; None when it cannot tell."""
    action = powers.actions.get(step.action)
    try:
        ctx = action_context(
            powers,
            operation_id=step.operation_id,
            step_index=step.index,
            idempotency_key=step.idempotency_key,
        )
        return await asyncio.wait_for(
            action.probe(ctx, action.parse(step.params)), timeout=powers.settings.probe_timeout_s
        )
    except Exception as exc:  # an unanswerable probe leaves the decision to a human
        log.warning("probe failed", operation_id=step.operation_id, error=_describe(exc))
        return None


_RULED = frozenset({OperationStatus.EXECUTING, OperationStatus.FAILED})
_STEP_RULED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED})


def _judges(by: Identity) -> bool:
    return by.holds(Authority.JUDICIAL) or by.holds(Authority.CROWN)


class JudgeOrCrown(OperationRule):
    """Whether an interrupted step took effect is a finding of fact: the judiciary's."""

    to_states = _RULED  # from any state: a person moves an operation there only by a ruling
    reason = "whether an interrupted step took effect is a finding of fact: the judiciary's"

    def check(self, attempt: Attempt) -> TriadError | None:
        by = attempt.by
        if by is None or _judges(by):
            return None
        return Forbidden(f"{by.name} holds neither the judicial nor the crown role")


class InDoubt(OperationRule):
    """Only an operation in doubt awaits a ruling; any other has a recorded outcome."""

    to_states = _RULED
    reason = "only an operation in doubt awaits a ruling; any other has a recorded outcome"

    def check(self, attempt: Attempt) -> TriadError | None:
        row = attempt.row
        if attempt.by is None or row.status == OperationStatus.IN_DOUBT.value:
            return None
        return Conflict(f"operation {row.id} is {row.status}, not in_doubt")


class JudgeRulesTheStep(StepRule):
    """A person says how an interrupted step ended only with the judiciary's power."""

    from_states = frozenset({StepStatus.RUNNING})
    to_states = _STEP_RULED
    reason = "only the judiciary (or the crown) rules on how an interrupted step ended"

    def check(self, attempt: StepAttempt) -> TriadError | None:
        by = attempt.by
        if by is None or _judges(by):
            return None
        return Forbidden(f"{by.name} holds neither the judicial nor the crown role")


lifecycle.OPERATIONS.extend([JudgeOrCrown, InDoubt])
lifecycle.STEPS.extend([JudgeRulesTheStep])


@dataclass(frozen=True, slots=True)
class Ruling:
    """How an interrupted step was ruled to have ended, and what that does to its operation."""

    took_effect: bool
    reason: str
    """What the operation's record says: the step's fate and who found it."""

    @property
    def resumes(self) -> bool:
        """True when the operation carries on executing; else it must fail."""
        return self.took_effect


def rule_on_step(
    session: AsyncSession,
    row: OperationRow,
    step: StepRow,
    *,
    took_effect: bool,
    actor: str,
    by: Identity | None = None,
) -> Ruling:
    """Record how an interrupted step ended and, when it took effect, resume the operation.

    One ruling for both finders: the action's probe (`by` None, the judiciary's rules) and
    a person (``triad ops resolve``). A step that did not take effect fails its operation:
    the caller fails it through its own fail path, with the ruling's reason.
    """
    verdict = "took effect" if took_effect else "did not take effect"
    how = "ruling" if by is not None else "probe"
    if by is not None and not took_effect:
        step.error = f"ruled by {by.name}: {verdict}"
    elif by is not None:
        step.error = None
    lifecycle.step_transition(
        session,
        StepAttempt(step, actor, by),
        StepStatus.SUCCEEDED if took_effect else StepStatus.FAILED,
        event="step_ruled",
        details={"took_effect": took_effect, "by": how},
    )
    if by is not None:
        ruling = Ruling(took_effect, f"step {step.index} {verdict} (ruling)")
    else:
        ruling = Ruling(took_effect, f"probe: step {step.index} {verdict}")
    if ruling.resumes:
        lifecycle.transition(
            session, Attempt(row, actor, by), OperationStatus.EXECUTING, reason=ruling.reason
        )
    return ruling


async def resolve_in_doubt(
    session: AsyncSession, *, operation_id: str, step_succeeded: bool, by: Identity
) -> OperationRow:
    """Record a human ruling on an interrupted step; the worker takes it from there."""
    row = await store.get_operation(session, operation_id, for_update=True)
    target = OperationStatus.EXECUTING if step_succeeded else OperationStatus.FAILED
    lifecycle.OPERATIONS.screen(OperationStatus(row.status), target, Attempt(row, by.name, by))
    steps = await store.get_steps(session, operation_id)
    step = next(s for s in steps if s.status == StepStatus.RUNNING.value)
    row.lease_owner = None
    ruling = rule_on_step(session, row, step, took_effect=step_succeeded, actor=by.name, by=by)
    if not ruling.resumes:
        lifecycle.fail(
            session, row, steps, actor=by.name, reason=ruling.reason, undo_actor=by.name, by=by
        )
    return row
