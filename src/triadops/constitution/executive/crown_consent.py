"""The crown's consent gate: a plan with a critical step starts only with the crown's approval.

Beside the window and blackout gates, on the same edge. The legislature already asks a
critical plan for a legislative and a crown approval (``rules.required_approvals``); this
gate makes that a promise the executive keeps where the state changes, in the transaction
that starts the operation, whatever the review decided: a critical step (restoring a backup
over a live database is one, ``backup.restore``) runs only when the approvals given for the
exact plan about to run include one by the legislature and one by the crown, by two
principals, neither of them an author of the plan. An approval under an authority is only
ever recorded for a principal who holds its role (``HoldsTheAuthority``), so no field a
client sets, nor ``--as``, can stand in for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import lifecycle
from triadops.constitution.claims import Drive, Progress, Tick
from triadops.constitution.lifecycle import Attempt, OperationRule
from triadops.domain.enums import Authority, Risk
from triadops.domain.enums import OperationStatus as S
from triadops.domain.errors import Forbidden, TriadError
from triadops.storage.tables import ApprovalRow, OperationRow

CONSENTS = (Authority.LEGISLATIVE, Authority.CROWN)
"""Who must have approved the current plan before a critical step may start."""


def critical_steps(row: OperationRow) -> list[str]:
    """The actions of the stored plan's steps that declare critical risk (read server-side)."""
    steps = (row.plan or {}).get("steps") or []
    return [
        str(step.get("action"))
        for step in steps
        if isinstance(step, dict) and step.get("risk") == Risk.CRITICAL.value
    ]


def missing_consent(row: OperationRow, approvals: Sequence[ApprovalRow]) -> list[Authority]:
    """The consents the current plan lacks among `approvals`.

    An approval counts only for the plan hash stored now, by a principal who neither
    requested nor last wrote the plan; one principal covers one consent. (The legislature's
    ``missing_approvals`` says the same; the branches do not import each other.)
    """
    authors = {row.requested_by, row.plan_author or row.requested_by}
    valid = [a for a in approvals if a.plan_hash == row.plan_hash and a.approver not in authors]
    missing, used = [], set()
    for authority in CONSENTS:
        match = next(
            (a for a in valid if a.authority == authority.value and a.approver not in used), None
        )
        if match is None:
            missing.append(authority)
        else:
            used.add(match.approver)
    return missing


def consent_refusal(row: OperationRow, approvals: Sequence[ApprovalRow]) -> str | None:
    """Why the operation may not start for want of consent, or None when it may."""
    critical = critical_steps(row)
    if not critical:
        return None
    missing = missing_consent(row, approvals)
    if not missing:
        return None
    names = " and ".join(a.value for a in missing)
    return (
        f"its critical step(s) {', '.join(sorted(set(critical)))} need an approval of this "
        f"plan by {names} (two principals, neither its requester nor its author)"
    )


class CriticalNeedsTheCrown(OperationRule):
    """A plan with a critical step starts only with legislative and crown approvals of it."""

    from_states = frozenset({S.SCHEDULED})
    to_states = frozenset({S.EXECUTING})
    reason = "a critical step runs only with the legislature's and the crown's approval of its plan"

    def check(self, attempt: Attempt) -> TriadError | None:
        """Refuse the start unless the approvals given cover the plan about to run."""
        refused = consent_refusal(attempt.row, attempt.existing)
        if refused is None:
            return None
        return Forbidden(f"operation {attempt.row.id} may not start: {refused}")


lifecycle.OPERATIONS.extend([CriticalNeedsTheCrown])


async def refuse_without_consent(drive: Drive) -> Progress | None:
    """Fail a scheduled operation the gate would refuse, running nothing, with the reason.

    A stage before the start: the gate's refusal would otherwise leave it scheduled, to be
    claimed and refused again. No rollback: nothing ran. A person must look.
    """
    row = drive.claimed.row
    refused = consent_refusal(row, drive.claimed.approvals)
    if refused is None:
        return None

    def refuse(session: AsyncSession, tick: Tick) -> Progress:
        drive.release()
        lifecycle.transition(
            session, Attempt(row, drive.executive), S.FAILED, reason=f"refused to run: {refused}"
        )
        return Progress.ENDED

    return await drive.commit(refuse)
