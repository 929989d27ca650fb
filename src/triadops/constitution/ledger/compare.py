"""The comparison of the stored rows with what the folds say they must be.

Each function names, as a discrepancy, every stored operation, step, approval, token,
principal, the crown's freeze and the governance that differ from the state the ledger's folds left
(``folds``), and everything the ledger records that the store does not hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from triadops.constitution.ledger.folds import (
    UNKNOWN,
    LedgerState,
    OperationState,
    TokenState,
)
from triadops.domain.chain import canonical_json, plan_hash
from triadops.domain.events import fingerprint
from triadops.domain.operations import Plan, definition_at, step_binding
from triadops.storage import audit as store
from triadops.storage.governance import governance_hash
from triadops.storage.tables import GovernanceRow

_ORPHAN = "stored but its operation is not"
_INSERTED_STEP = "stored but not in the ledger's plan (inserted)"


def _short(digest: str | None) -> str:
    return f"{digest[:12]}…" if digest else "none"


def compare_operations(state: LedgerState, batch: store.OperationBatch) -> None:
    """Compare a batch of stored operations, steps and approvals with the replay."""
    steps: dict[str, list[store.StoredStep]] = {}
    for step in batch.steps:
        steps.setdefault(step.operation_id, []).append(step)
    approvals: dict[str, list[store.StoredApproval]] = {}
    for approval in batch.approvals:
        approvals.setdefault(approval.operation_id, []).append(approval)
    for row in batch.operations:
        op = state.operations.get(row.id)
        if op is not None:
            op.stored = True
        if op is None or not op.submitted:
            state.say(
                "operation",
                f"operation {row.id}",
                "stored but never submitted in the ledger (inserted)",
            )
            continue
        binding = _binding(row.plan)
        digest = None if binding is None else plan_hash(binding)
        _operation(state, row, op, digest)
        _steps(state, row.id, op, steps.pop(row.id, []), binding, digest)
        _approvals(state, row.id, op, approvals.pop(row.id, []))
    # Rows whose operation is not stored (or is not the ledger's): the operation's own
    # finding covers those; rows of no stored operation at all are named here.
    stored = {row.id for row in batch.operations}
    for operation_id, orphans in steps.items():
        if operation_id not in stored:
            for step in orphans:
                state.say("step", f"step {step.step_index} of {operation_id}", _ORPHAN)
    for operation_id, orphaned in approvals.items():
        if operation_id not in stored:
            for a in orphaned:
                subject = _approval(operation_id, a.approver, a.authority, a.plan_hash)
                state.say("approval", subject, _ORPHAN)


def _operation(
    state: LedgerState, row: store.StoredOperation, op: OperationState, digest: str | None
) -> None:
    def say(problem: str) -> None:
        state.say("operation", f"operation {row.id}", problem)

    _submission(say, row, op)
    if op.operation_type is not UNKNOWN and row.operation_type != op.operation_type:
        say(f"stored type {row.operation_type} but the ledger submitted {op.operation_type}")
    if row.status != op.status:
        say(f"stored status {row.status} but the ledger's last transition is to {op.status}")
    recorded = op.plan_hash
    if recorded is None and (row.plan is not None or row.plan_hash is not None):
        say(f"stored plan {_short(row.plan_hash)} but the ledger records no plan")
    elif isinstance(recorded, str):
        if row.plan_hash != recorded:
            say(
                f"stored plan hash {_short(row.plan_hash)} but the ledger's plan hash is "
                f"{_short(recorded)}"
            )
        if digest is None:
            say(f"stored plan is not a plan; the ledger's plan hash is {_short(recorded)}")
        elif digest != recorded:
            say(f"stored plan does not hash to the ledger's plan hash {_short(recorded)}")
    if op.plan_author is not UNKNOWN and row.plan_author != op.plan_author:
        say(
            f"stored plan author {row.plan_author} but the ledger's plan was written by "
            f"{op.plan_author}"
        )
    approved = op.approved_plan_hash
    if approved is not UNKNOWN and row.approved_plan_hash != approved:
        said = f"approved plan {_short(approved)}" if approved else "no approved plan"
        say(
            f"stored approved plan hash {_short(row.approved_plan_hash)} but the ledger "
            f"records {said}"
        )
    for what, stored_by, said_by in (
        ("cancellation request", row.cancel_requested_by, op.cancel_requested_by),
        ("acknowledgement", row.acknowledged_by, op.acknowledged_by),
    ):
        if stored_by != said_by:
            say(
                f"stored {what} by {stored_by or 'nobody'} but the ledger records one by "
                f"{said_by or 'nobody'}"
            )
    _review(state, row, op)
    due = op.scheduled_at
    stored_due = row.scheduled_time and row.scheduled_time.isoformat()
    if due is not UNKNOWN and stored_due != due:
        say(f"stored scheduled time {stored_due} but the ledger records {due}")
    if bool(row.acknowledgement_overdue) != op.acknowledgement_overdue:
        say(
            f"stored acknowledgement_overdue={_flag(bool(row.acknowledgement_overdue))} "
            f"but the ledger says {_flag(op.acknowledgement_overdue)}"
        )


def _submission(say: Callable[[str], None], row: store.StoredOperation, op: OperationState) -> None:
    """Name a requester or a client (``via``) that is not the submission entry's."""
    if row.requested_by != op.requested_by:
        say(
            f"stored requester {row.requested_by} but the ledger's submission is by "
            f"{op.requested_by}"
        )
    if row.via != op.via:
        say(f"stored client {row.via!r} but the ledger's submission came via {op.via!r}")


def _review(state: LedgerState, row: store.StoredOperation, op: OperationState) -> None:
    """Name a stored post-change review that is not the one the ledger recorded."""
    stored, said = (row.reviewed_by, row.review_lessons, row.review_note), op.review
    if said == stored or (said is None and stored == (None, None, None)):
        return
    if said is None:
        problem = f"stored review by {row.reviewed_by} but the ledger records none (inserted)"
    elif row.reviewed_by is None:
        problem = f"the ledger records a review by {said[0]} but none is stored (deleted)"
    elif row.reviewed_by != said[0]:
        problem = f"stored review by {row.reviewed_by} but the ledger's is by {said[0]}"
    else:
        problem = "stored review's lessons or note differ from the ledger's (edited)"
    state.say("operation", f"operation {row.id}", problem)


def _steps(
    state: LedgerState,
    operation_id: str,
    op: OperationState,
    rows: list[store.StoredStep],
    binding: dict[str, Any] | None,
    digest: str | None,
) -> None:
    if op.plan_steps is None:
        return  # no plan entry saying how many steps: nothing to hold the rows to
    for row in rows:
        said = op.steps.get(row.step_index)
        if row.step_index >= op.plan_steps or said is None:
            state.say("step", f"step {row.step_index} of {operation_id}", _INSERTED_STEP)
        elif said is not UNKNOWN and row.status != said:
            state.say(
                "step",
                f"step {row.step_index} of {operation_id}",
                f"stored status {row.status}, ledger says {said}",
            )
    indexes = [row.step_index for row in rows]
    for index in sorted(set(range(op.plan_steps)) - set(indexes)):
        state.say(
            "step",
            f"step {index} of {operation_id}",
            "in the ledger's plan but not stored (deleted)",
        )
    if indexes == list(range(op.plan_steps)):
        _step_plan(state, operation_id, op.plan_hash, rows, binding, digest)


def _step_plan(
    state: LedgerState,
    operation_id: str,
    recorded: object,
    rows: list[store.StoredStep],
    binding: dict[str, Any] | None,
    digest: str | None,
) -> None:
    """Name the step rows (or the operation) whose actions and params are not the plan's.

    `recorded` is the plan hash the ledger recorded (not text: unknown, nothing to hold).
    """
    if binding is None or not isinstance(recorded, str):
        return
    # What the executive runs: the step rows in place of the plan's steps must hash
    # to the plan the ledger recorded.
    planned = binding["steps"]
    ran = [
        step_binding(row.action, row.params, definition_at(planned, row.step_index)) for row in rows
    ]
    if digest == recorded:
        # The stored plan hashes to it, so the same text for the steps is the same hash.
        if canonical_json(ran) == canonical_json(planned):
            return
    elif plan_hash({**binding, "steps": ran}) == recorded:
        return
    if digest != recorded or len(planned) != len(rows):
        # The stored plan is not the ledger's either, so no one step can be blamed.
        state.say(
            "operation",
            f"operation {operation_id}",
            f"stored steps do not hash to the ledger's plan hash {_short(recorded)}",
        )
        return
    for row, want in zip(rows, planned, strict=True):
        subject = f"step {row.step_index} of {operation_id}"
        if row.action != want["action"]:
            state.say(
                "step",
                subject,
                f"stored action {row.action} but the ledger's plan {_short(recorded)} has "
                f"{want['action']}",
            )
        elif canonical_json(row.params) != canonical_json(want["params"]):
            state.say(
                "step",
                subject,
                f"stored params do not hash to the ledger's plan {_short(recorded)}",
            )


def _approvals(
    state: LedgerState, operation_id: str, op: OperationState, rows: list[store.StoredApproval]
) -> None:
    if not rows and not op.approvals:
        return  # most operations: nothing to count
    said = Counter(op.approvals)
    stored: Counter[tuple[str, str | None, str | None]] = Counter(
        (a.approver, a.authority, a.plan_hash) for a in rows
    )
    for problem, extra in (
        ("stored but not in the ledger (inserted)", stored - said),
        ("in the ledger but not stored (deleted)", said - stored),
    ):
        for (approver, authority, digest), count in extra.items():
            subject = _approval(operation_id, approver, authority, digest)
            for _ in range(count):
                state.say("approval", subject, problem)


def compare_unstored(state: LedgerState) -> None:
    """Name every operation the ledger knows but the store does not hold."""
    for operation_id, op in state.operations.items():
        if not op.stored:
            state.say(
                "operation",
                f"operation {operation_id}",
                "in the ledger but not stored (deleted)",
            )


def compare_tokens(state: LedgerState, rows: Iterable[store.StoredToken]) -> None:
    """Compare every stored token with the ledger's issues and revocations."""
    for row in rows:
        token = state.tokens.get(row.name)
        if token is not None:
            token.stored = True
        for problem in _token_problems(row, token):
            state.say("token", f"token {row.name}", problem)
    for name, token in state.tokens.items():
        if not token.stored:
            state.say("token", f"token {name}", "in the ledger but not stored (deleted)")


MIGRATED_KIND = "person"
"""The kind the principals migration gave the principal of each token it found."""


def compare_principals(
    state: LedgerState,
    rows: Iterable[store.StoredPrincipal],
    tokens: Iterable[store.StoredToken],
) -> None:
    """Compare every stored principal with the ledger's creations.

    A principal the ledger never created is the principals migration's only when a token
    the ledger issued before it recorded principals (its issue does not say to whom)
    belongs to it; the migration made those persons.
    """
    migrated = {
        row.principal
        for row in tokens
        if (token := state.tokens.get(row.name)) is not None and token.principal is UNKNOWN
    }
    for row in rows:
        subject = f"principal {row.name}"
        said = state.principals.get(row.name)
        if said is not None:
            said.stored = True
            if said.kind is not UNKNOWN and row.kind != said.kind:
                state.say(
                    "principal",
                    subject,
                    f"stored kind {row.kind} but the ledger made a {said.kind}",
                )
        elif row.name not in migrated:
            state.say("principal", subject, "stored but never created in the ledger (inserted)")
        elif row.kind != MIGRATED_KIND:
            state.say(
                "principal",
                subject,
                f"stored kind {row.kind} but the principals migration made a {MIGRATED_KIND}",
            )
    for name, principal in state.principals.items():
        if not principal.stored:
            state.say("principal", f"principal {name}", "in the ledger but not stored (deleted)")


def compare_freeze(state: LedgerState, stored: tuple[bool, str | None] | None) -> None:
    """Compare the crown's stored freeze with the ledger's last freeze or unfreeze."""
    if stored is None:
        state.say("crown", "crown", "its stored state is missing")
        return
    frozen, frozen_by = stored
    if frozen != (state.freeze_said == "freeze"):
        said = (
            f"the ledger's last word is {state.freeze_said}"
            if state.freeze_said
            else "the ledger never froze it"
        )
        state.say("crown", "crown", f"stored frozen={_flag(frozen)} but {said}")
    elif frozen and frozen_by != state.frozen_by:
        state.say(
            "crown",
            "crown",
            f"stored frozen by {frozen_by} but the ledger's freeze is by {state.frozen_by}",
        )


def governance_problems(said: Mapping[str, Any] | None, row: GovernanceRow | None) -> list[str]:
    """Say how the stored governance differs from the ledger's last ``governance_set``.

    Its settings must hash to its hash, and
    both, and who set it, must be what the ledger recorded last.
    """
    if row is None:
        return [] if said is None else ["in the ledger but not stored (deleted)"]
    if said is None:
        return ["stored but never set in the ledger (inserted)"]
    problems = []
    if not isinstance(row.settings, dict) or governance_hash(row.settings) != row.hash:
        problems.append(f"stored settings do not hash to the stored hash {_short(row.hash)}")
    if row.hash != said.get("hash") or row.settings != said.get("settings"):
        recorded = said.get("hash")
        problems.append(
            f"stored settings {_short(row.hash)} but the ledger's last were "
            f"{_short(recorded if isinstance(recorded, str) else None)}"
        )
    if row.set_by != said.get("set_by"):
        problems.append(
            f"stored as set by {row.set_by} but the ledger's were set by {said.get('set_by')}"
        )
    return problems


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _token_problems(row: store.StoredToken, token: TokenState | None) -> list[str]:
    if token is None:
        return ["stored but never issued in the ledger (inserted)"]
    problems = []
    roles = sorted(str(r) for r in row.roles) if isinstance(row.roles, list) else [str(row.roles)]
    if roles != token.roles:
        problems.append(
            f"stored roles {','.join(roles)} but the ledger granted {','.join(token.roles)}"
        )
    if token.principal is not UNKNOWN and row.principal != token.principal:
        problems.append(
            f"stored principal {row.principal} but the ledger issued it to {token.principal}"
        )
    if token.fingerprint is not UNKNOWN and fingerprint(row.token_hash) != token.fingerprint:
        problems.append("stored hash does not match its fingerprint in the ledger (swapped)")
    if token.revoked and not row.revoked:
        problems.append("stored as active but the ledger revoked it")
    elif row.revoked and not token.revoked:
        problems.append("stored as revoked but the ledger never revoked it")
    return problems


def _approval(operation_id: str, approver: str, authority: str | None, digest: str | None) -> str:
    plan = _short(digest)
    return f"approval of {operation_id} by {approver} ({authority}, plan {plan})"


def _binding(plan: Any) -> dict[str, Any] | None:
    """Return what a stored plan document's hash covers, or None if it is not a plan.

    The same binding the executive checks before it runs a step (``Plan.binding``), read
    straight from the JSON when it has the usual shape, which is most of the cost saved.
    """
    if not isinstance(plan, dict):
        return None
    try:
        return {
            "steps": [
                step_binding(s["action"], s["params"], s.get("definition")) for s in plan["steps"]
            ],
            "affected_systems": sorted(plan["affected_systems"]),
            "rollback_plan": plan["rollback_plan"],
            "validation_criteria": plan["validation_criteria"],
        }
    except (KeyError, TypeError):
        pass
    try:
        return Plan.model_validate(plan).binding()
    except ValidationError:
        return None
