"""Verification that replays the ledger and names every stored record that disagrees.

The hash chain alone proves only that the ledger agrees with itself. :func:`verify` walks
it once, checking each link with the same ``ChainWalk`` as :func:`ledger.verify`, and folds
every entry into what the ledger says each operation, step, approval and token, and the
crown's freeze, must be now. Then it reads the stored rows and names each one that differs.

What it proves: every transition the ledger records is one the lifecycle allows
(``lifecycle.TRANSITIONS`` and ``STEP_TRANSITIONS``, the tables the services move by) and
starts where the operation's, or the step's, previous one ended; every stored operation was
submitted in the ledger and is in the state its last transition says, with the plan (document,
hash, author) and approved plan hash the ledger recorded; its step rows hash to that plan and
are in the state of their last ledger entry; every approval and token row was recorded, with
the same approver, authority, plan hash, roles, principal, revocation and hash fingerprint;
nothing the ledger recorded is missing; the freeze is where the ledger left it; the stored
governance is the last one a ``governance_set`` entry recorded. State ahead of
the ledger (a tail cut off with the head moved back) shows up as records the ledger does not
explain.

What it cannot prove: someone who can write the database can also write the ledger, so a
state change accompanied by forged entries that explain it (appended at the tail, or an
edit with every later hash recomputed) replays clean; signed checkpoints catch those up
to the last checkpoint, nothing catches them after it. Entries written before a field
existed (a ``plan`` entry without ``author``, a ``token_created`` without ``principal`` or
``fingerprint``, step entries without ``status``) leave that one aspect unchecked rather
than reporting a difference. What the ledger does not carry is not compared: requests,
results, step outputs and errors, timestamps, deadlines, leases, principals' kinds,
baselines and the access log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, NamedTuple

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger import alert_audit
from triadops.constitution.ledger.chain import ChainWalk, Pacer
from triadops.constitution.ledger.checkpoints import CHECKPOINT_SIGNED
from triadops.constitution.lifecycle import STEP_TRANSITIONS, TRANSITIONS
from triadops.domain.chain import canonical_json, plan_hash
from triadops.domain.events.tokens import fingerprint
from triadops.domain.ledger import Discrepancy, DiscrepancyKind, VerifyReport
from triadops.domain.operations import Plan
from triadops.settings import AlertSettings
from triadops.storage import audit as store
from triadops.storage.governance import GOVERNANCE_SET, governance_hash, read_governance
from triadops.storage.ledger import StoredLink, head, iterate_link_batches
from triadops.storage.tables import GovernanceRow


class _Unknown(Enum):
    UNKNOWN = "unknown"


UNKNOWN: Final = _Unknown.UNKNOWN
"""An aspect older entries do not carry: unchecked, never a finding."""

MAX_STEPS = 10_000
"""More steps than any plan may have (a request allows 100): a count beyond is not believed."""

OPERATION_BATCH = 100
"""Operations compared per batch: each holds the loop while compared (50 costs a fifth
more in database round trips, 200 holds the loop twice as long)."""

STEP_EVENTS = frozenset(
    {
        "step_started",
        "step_resumed",
        "step_succeeded",
        "step_failed",
        "step_cancelled",
        "step_ruled",
        "rollback_started",
        "step_rolled_back",
        "step_rollback_failed",
    }
)


def _short(digest: str | None) -> str:
    return f"{digest[:12]}…" if digest else "none"


def _known(value: Any) -> str | _Unknown:
    return value if isinstance(value, str) else UNKNOWN


def _text(value: Any) -> str | None:
    """Return a detail as text, whatever a forged entry put there (it must stay hashable)."""
    return value if isinstance(value, str) or value is None else canonical_json(value)


@dataclass(slots=True)
class _Operation:
    """What the ledger says one operation is now."""

    submitted: bool = False
    stored: bool = False
    requested_by: str | None = None
    operation_type: str | _Unknown = UNKNOWN
    status: str | None = None
    plan_hash: str | _Unknown | None = None
    plan_author: str | _Unknown = UNKNOWN
    plan_steps: int | None = None
    """The current plan's step count (None: no plan entry, or one that does not say)."""
    steps: dict[int, str | _Unknown] = field(default_factory=dict)
    approved_plan_hash: str | _Unknown | None = None
    approvals: tuple[tuple[str, str | None, str | None], ...] = ()
    """(approver, authority, plan hash) as recorded; a tuple, since most have none."""
    cancel_requested_by: str | None = None
    acknowledged_by: str | None = None
    acknowledgement_overdue: bool = False


@dataclass(slots=True)
class _Token:
    """What the ledger says one token is now."""

    roles: list[str]
    principal: str | _Unknown
    fingerprint: str | _Unknown
    revoked: bool = False
    stored: bool = False


class Replay:
    """Fold ledger entries into the state they imply, then compare it with stored rows."""

    def __init__(self, *, group_wait_s: float | None = None) -> None:
        self.operations: dict[str, _Operation] = {}
        self.tokens: dict[str, _Token] = {}
        self.freeze_said: str | None = None
        self.frozen_by: str | None = None
        self.found: list[Discrepancy] = []
        self.alerts = alert_audit.AlertReplay(group_wait_s=group_wait_s)
        self.checkpoints: dict[str, dict[int, int]] = {}
        """Checkpoints the ledger records, by key id: checkpoint seq → recording entry."""
        self.governance: dict[str, Any] | None = None
        """The details of the ledger's last ``governance_set`` entry."""

    def feed(self, link: StoredLink, details: Any) -> None:
        """Apply one entry, its details decoded, to the state it changes."""
        actor, event, operation_id, to_status = link[2], link[3], link[4], link[6]  # see StoredLink
        seq, from_status = link[0], link[5]
        if not isinstance(details, dict):
            details = {}
        if self.alerts.feed(actor, event, operation_id, details, link[1]):
            return  # an alert's or a silence's (filed under alert:<id>, or its operation)
        if operation_id is not None:
            op = self.operations.get(operation_id)
            if op is None:
                op = self.operations[operation_id] = _Operation()
            if event == "transition":
                self._check_transition(operation_id, op, seq, from_status, to_status)
                op.status = to_status
                if to_status == "reviewing":
                    op.approved_plan_hash = None  # a new plan, or approvals that no longer count
                elif to_status == "approved":
                    op.approved_plan_hash = _known(details.get("plan_hash"))
            elif event in STEP_EVENTS:
                index = details.get("step")
                if isinstance(index, int):
                    status = _known(details.get("status"))
                    self._check_step(operation_id, op, seq, index, status)
                    op.steps[index] = status
            elif event == "plan":
                self._plan(op, details)
            elif event == "approval":
                said = (
                    actor,
                    _text(details.get("authority")),
                    _text(details.get("plan_hash")),
                )
                op.approvals += (said,)
            elif event == "submitted":
                op.submitted, op.requested_by, op.status = True, actor, to_status
                op.operation_type = _known(details.get("type"))
            elif event == "cancel_requested":
                op.cancel_requested_by = actor
            elif event == "acknowledged":
                op.acknowledged_by = actor
            elif event == "acknowledgement_overdue":
                op.acknowledgement_overdue = True
        elif event == "token_created":
            roles = details.get("roles")
            self.tokens[str(details.get("name"))] = _Token(
                roles=sorted(str(r) for r in roles) if isinstance(roles, list) else [],
                principal=_known(details.get("principal")),
                fingerprint=_known(details.get("fingerprint")),
            )
        elif event == "token_revoked":
            token = self.tokens.get(str(details.get("name")))
            if token is not None:
                token.revoked = True
        elif event in ("freeze", "unfreeze"):
            self.freeze_said, self.frozen_by = event, actor if event == "freeze" else None
        elif event == GOVERNANCE_SET:
            self.governance = details
        elif event == CHECKPOINT_SIGNED:
            seq, key = details.get("seq"), details.get("key_id")
            if isinstance(seq, int) and isinstance(key, str):
                self.checkpoints.setdefault(key, {})[seq] = link[0]

    def _check_transition(
        self, operation_id: str, op: _Operation, seq: int, source: Any, target: Any
    ) -> None:
        """Name a transition the lifecycle forbids, or one not starting where the last ended."""
        said = f"entry {seq}: transition {source} → {target}"
        if not op.submitted:
            self._say("operation", f"operation {operation_id}", f"{said} before its submission")
        elif source != op.status:
            self._say(
                "operation",
                f"operation {operation_id}",
                f"{said} does not follow on: the previous transition ended at {op.status} "
                "(discontinuous)",
            )
        if (source, target) not in LEGAL_TRANSITIONS:
            self._say(
                "operation",
                f"operation {operation_id}",
                f"{said} is not a legal transition (forged)",
            )

    def _check_step(
        self, operation_id: str, op: _Operation, seq: int, index: int, target: str | _Unknown
    ) -> None:
        """Name a step entry the step lifecycle forbids from the step's last recorded status."""
        source = op.steps.get(index)
        if not isinstance(source, str) or not isinstance(target, str):
            return  # no plan saying the step exists, or an entry older than step statuses
        if (source, target) not in LEGAL_STEP_TRANSITIONS:
            self._say(
                "step",
                f"step {index} of {operation_id}",
                f"entry {seq}: {source} → {target} is not a legal step transition (forged)",
            )

    @staticmethod
    def _plan(op: _Operation, details: dict[str, Any]) -> None:
        # A plan is adopted with fresh step rows, all pending, and no approval yet.
        op.plan_hash = _known(details.get("plan_hash"))
        op.plan_author = _known(details.get("author"))
        count = details.get("steps")
        op.plan_steps = count if isinstance(count, int) and 0 <= count <= MAX_STEPS else None
        op.steps = dict.fromkeys(range(op.plan_steps or 0), "pending")
        op.approved_plan_hash = None

    def _say(self, kind: DiscrepancyKind, subject: str, problem: str) -> None:
        self.found.append(Discrepancy(kind=kind, subject=subject, problem=problem))

    def compare_operations(self, batch: store.OperationBatch) -> None:
        """Compare a batch of stored operations, steps and approvals with the replay."""
        steps: dict[str, list[store.StoredStep]] = {}
        for step in batch.steps:
            steps.setdefault(step.operation_id, []).append(step)
        approvals: dict[str, list[store.StoredApproval]] = {}
        for approval in batch.approvals:
            approvals.setdefault(approval.operation_id, []).append(approval)
        for row in batch.operations:
            op = self.operations.get(row.id)
            if op is not None:
                op.stored = True
            if op is None or not op.submitted:
                self._say(
                    "operation",
                    f"operation {row.id}",
                    "stored but never submitted in the ledger (inserted)",
                )
                continue
            binding = _binding(row.plan)
            digest = None if binding is None else plan_hash(binding)
            self._operation(row, op, digest)
            self._steps(row.id, op, steps.pop(row.id, []), binding, digest)
            self._approvals(row.id, op, approvals.pop(row.id, []))
        # Rows whose operation is not stored (or is not the ledger's): the operation's own
        # finding covers those; rows of no stored operation at all are named here.
        stored = {row.id for row in batch.operations}
        for operation_id, orphans in steps.items():
            if operation_id not in stored:
                for step in orphans:
                    self._say("step", f"step {step.step_index} of {operation_id}", _ORPHAN)
        for operation_id, orphaned in approvals.items():
            if operation_id not in stored:
                for a in orphaned:
                    subject = _approval(operation_id, a.approver, a.authority, a.plan_hash)
                    self._say("approval", subject, _ORPHAN)

    def _operation(self, row: store.StoredOperation, op: _Operation, digest: str | None) -> None:
        def say(problem: str) -> None:
            self._say("operation", f"operation {row.id}", problem)

        if row.requested_by != op.requested_by:
            say(
                f"stored requester {row.requested_by} but the ledger's submission is by "
                f"{op.requested_by}"
            )
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
        if bool(row.acknowledgement_overdue) != op.acknowledgement_overdue:
            say(
                f"stored acknowledgement_overdue={_flag(bool(row.acknowledgement_overdue))} "
                f"but the ledger says {_flag(op.acknowledgement_overdue)}"
            )

    def _steps(
        self,
        operation_id: str,
        op: _Operation,
        rows: list[store.StoredStep],
        binding: dict[str, Any] | None,
        digest: str | None,
    ) -> None:
        if op.plan_steps is None:
            return  # no plan entry saying how many steps: nothing to hold the rows to
        for row in rows:
            said = op.steps.get(row.step_index)
            if row.step_index >= op.plan_steps or said is None:
                self._say("step", f"step {row.step_index} of {operation_id}", _INSERTED_STEP)
            elif said is not UNKNOWN and row.status != said:
                self._say(
                    "step",
                    f"step {row.step_index} of {operation_id}",
                    f"stored status {row.status}, ledger says {said}",
                )
        indexes = [row.step_index for row in rows]
        for index in sorted(set(range(op.plan_steps)) - set(indexes)):
            self._say(
                "step",
                f"step {index} of {operation_id}",
                "in the ledger's plan but not stored (deleted)",
            )
        recorded = op.plan_hash
        if binding is None or not isinstance(recorded, str):
            return
        if indexes != list(range(op.plan_steps)):
            return
        # What the executive runs: the step rows in place of the plan's steps must hash
        # to the plan the ledger recorded.
        ran = [{"action": row.action, "params": row.params} for row in rows]
        planned = binding["steps"]
        if digest == recorded:
            # The stored plan hashes to it, so the same text for the steps is the same hash.
            if canonical_json(ran) == canonical_json(planned):
                return
        elif plan_hash({**binding, "steps": ran}) == recorded:
            return
        if digest != recorded or len(planned) != len(rows):
            # The stored plan is not the ledger's either, so no one step can be blamed.
            self._say(
                "operation",
                f"operation {operation_id}",
                f"stored steps do not hash to the ledger's plan hash {_short(recorded)}",
            )
            return
        for row, want in zip(rows, planned, strict=True):
            subject = f"step {row.step_index} of {operation_id}"
            if row.action != want["action"]:
                self._say(
                    "step",
                    subject,
                    f"stored action {row.action} but the ledger's plan {_short(recorded)} has "
                    f"{want['action']}",
                )
            elif canonical_json(row.params) != canonical_json(want["params"]):
                self._say(
                    "step",
                    subject,
                    f"stored params do not hash to the ledger's plan {_short(recorded)}",
                )

    def _approvals(
        self, operation_id: str, op: _Operation, rows: list[store.StoredApproval]
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
                    self._say("approval", subject, problem)

    def compare_unstored(self) -> None:
        """Name every operation the ledger knows but the store does not hold."""
        for operation_id, op in self.operations.items():
            if not op.stored:
                self._say(
                    "operation",
                    f"operation {operation_id}",
                    "in the ledger but not stored (deleted)",
                )

    def compare_tokens(self, rows: Iterable[store.StoredToken]) -> None:
        """Compare every stored token with the ledger's issues and revocations."""
        for row in rows:
            token = self.tokens.get(row.name)
            if token is not None:
                token.stored = True
            for problem in _token_problems(row, token):
                self._say("token", f"token {row.name}", problem)
        for name, token in self.tokens.items():
            if not token.stored:
                self._say("token", f"token {name}", "in the ledger but not stored (deleted)")

    def compare_freeze(self, stored: tuple[bool, str | None] | None) -> None:
        """Compare the crown's stored freeze with the ledger's last freeze or unfreeze."""
        if stored is None:
            self._say("crown", "crown", "its stored state is missing")
            return
        frozen, frozen_by = stored
        if frozen != (self.freeze_said == "freeze"):
            said = (
                f"the ledger's last word is {self.freeze_said}"
                if self.freeze_said
                else "the ledger never froze it"
            )
            self._say("crown", "crown", f"stored frozen={_flag(frozen)} but {said}")
        elif frozen and frozen_by != self.frozen_by:
            self._say(
                "crown",
                "crown",
                f"stored frozen by {frozen_by} but the ledger's freeze is by {self.frozen_by}",
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


_ORPHAN = "stored but its operation is not"
_INSERTED_STEP = "stored but not in the ledger's plan (inserted)"


def _pairs(table: Mapping[Any, frozenset[Any]]) -> frozenset[tuple[str, str]]:
    """Return a lifecycle table's allowed moves as (from, to) status values."""
    return frozenset(
        (source.value, target.value) for source, moves in table.items() for target in moves
    )


LEGAL_TRANSITIONS = _pairs(TRANSITIONS)
"""Read from ``lifecycle.TRANSITIONS`` itself: one source of truth, as text for the walk."""
LEGAL_STEP_TRANSITIONS = _pairs(STEP_TRANSITIONS)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _token_problems(row: store.StoredToken, token: _Token | None) -> list[str]:
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
            "steps": [{"action": s["action"], "params": s["params"]} for s in plan["steps"]],
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


class Verified(NamedTuple):
    """The report, and what the checkpoint log must hold: the checkpoints the ledger records."""

    report: VerifyReport
    checkpoints: dict[str, dict[int, int]]
    """By key id: each recorded checkpoint's seq → the entry that records it."""


async def verify(session: AsyncSession, *, alerts: AlertSettings | None = None) -> VerifyReport:
    """Walk the chain once, replaying it, and name every stored record that disagrees.

    Reads only; call it on a fresh (read-only) session: it asks PostgreSQL for one
    snapshot for the whole walk, so a worker committing meanwhile causes no finding.
    With the alert settings, a notification group no flush has recorded yet is held to
    its group wait too.
    """
    return (await verify_with_checkpoints(session, alerts=alerts)).report


async def verify_with_checkpoints(
    session: AsyncSession, *, alerts: AlertSettings | None = None
) -> Verified:
    """Verify as :func:`verify` does; also return the checkpoints the ledger records."""
    await store.read_snapshot(session)
    group_wait_s = alerts.group_wait_s if alerts is not None else None
    walk, replay, pacer = ChainWalk(), Replay(group_wait_s=group_wait_s), Pacer()
    async with aclosing(iterate_link_batches(session)) as batches:
        async for links in batches:
            for link, details in zip(links, walk.check(links), strict=True):
                replay.feed(link, details)
            await pacer.turn()
    walk.check_head(*await head(session))
    operations = 0
    async for batch in store.iterate_operations(session, batch=OPERATION_BATCH):
        operations += len(batch.operations)
        replay.compare_operations(batch)
        await pacer.turn()
    replay.compare_unstored()
    tokens = await store.select_tokens(session)
    replay.compare_tokens(tokens)
    replay.compare_freeze(await store.select_freeze(session))
    for problem in governance_problems(replay.governance, await read_governance(session)):
        replay.found.append(Discrepancy(kind="governance", subject="governance", problem=problem))
    await alert_audit.compare_stored(session, replay.alerts, pacer)
    found = replay.found + replay.alerts.found
    report = VerifyReport(
        ok=walk.problem is None and not found,
        entries_checked=walk.checked,
        first_bad_seq=walk.first_bad_seq,
        problem=walk.problem,
        discrepancies=found,
        operations_checked=operations,
        tokens_checked=len(tokens),
    )
    return Verified(report, replay.checkpoints)
