"""The legislature's amendment: a plan not yet running replaced, its approvals void."""

from __future__ import annotations

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import lifecycle
from triadops.constitution.legislative import calendar
from triadops.constitution.legislative.review import decide, draft_plan
from triadops.constitution.legislative.submission import adopt_plan, consults_planner, iso
from triadops.constitution.lifecycle import Attempt, OperationRule, RequesterOr
from triadops.constitution.powers import Powers
from triadops.domain.chain import plan_hash
from triadops.domain.enums import Authority, OperationStatus
from triadops.domain.errors import Conflict, TriadError
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationRequest, StepSpec, utcnow
from triadops.storage import operations as store
from triadops.storage.tables import OperationRow

S = OperationStatus
_AMENDABLE = (S.AWAITING_APPROVAL.value, S.SCHEDULED.value)
_REVIEWING = frozenset({S.REVIEWING})


class NotYetRunning(OperationRule):
    """A plan changes only before a worker starts it: what runs is what was approved."""

    to_states = _REVIEWING  # from any state, so the refusal names the state it found
    reason = "a plan changes only before a worker starts it: what runs is what was approved"

    def check(self, attempt: Attempt) -> TriadError | None:
        row = attempt.row
        if attempt.by is None:
            return None
        if row.status in _AMENDABLE and not store.is_leased(row, attempt.now or utcnow()):
            return None
        return Conflict(f"operation {row.id} is {row.status}; only plans not yet running change")


class RequesterOrLegislator(RequesterOr):
    """Writing a plan is the legislature's power, or the requester's for their own request."""

    to_states = _REVIEWING
    reason = "writing a plan is the legislature's power, or the requester's for their own"
    authority = Authority.LEGISLATIVE


class RequestUnchanged(OperationRule):
    """An amendment drafted from one read lands only if the request is still as it was read."""

    to_states = _REVIEWING
    reason = "an amendment lands only on the request it was drafted from"

    def check(self, attempt: Attempt) -> TriadError | None:
        seen = attempt.request
        if attempt.by is None or seen is None or attempt.row.request == seen:
            return None
        return Conflict(f"operation {attempt.row.id} changed while it was amended; try again")


class PlanChanges(OperationRule):
    """An amendment that changes nothing would void the approvals for no reason."""

    to_states = _REVIEWING
    reason = "an amendment that changes nothing would void the approvals for nothing"

    def check(self, attempt: Attempt) -> TriadError | None:
        if attempt.by is None or attempt.plan_hash is None:
            return None
        if attempt.plan_hash != attempt.row.plan_hash:
            return None
        return Conflict(f"the amended plan of {attempt.row.id} is identical to the current one")


lifecycle.OPERATIONS.extend([NotYetRunning, RequesterOrLegislator, RequestUnchanged, PlanChanges])


def _screen(attempt: Attempt) -> None:
    lifecycle.OPERATIONS.screen(S(attempt.row.status), S.REVIEWING, attempt)


async def amend_operation(
    session: AsyncSession,
    powers: Powers,
    *,
    operation_id: str,
    steps: list[StepSpec],
    by: Identity,
) -> OperationRow:
    """Replace the steps of a not-yet-running plan; every earlier approval is void.

    The new plan's dry runs (which may reach targets) happen before `session` takes the
    write lock, from a read of the operation; under the lock the operation must still be
    amendable and its request unchanged, or nothing changes. Work that needs a window is
    placed again from its current time: one that no longer fits moves to the next slot.
    """
    async with powers.reading() as reading:
        seen = await store.get_operation(reading, operation_id)
        _screen(Attempt(seen, by.name, by))
        fields = {**seen.request, "procedure": None, "steps": [s.model_dump() for s in steps]}
        request = OperationRequest.model_validate(fields)
        placed, notes = await calendar.place(
            reading,
            powers.settings,
            request.model_copy(update={"scheduled_time": seen.scheduled_time}),
        )
    plan = await draft_plan(powers, request)
    row = await store.get_operation(session, operation_id, for_update=True)
    attempt = Attempt(row, by.name, by, request=seen.request, plan_hash=plan_hash(plan.binding()))
    _screen(attempt)
    finding = await decide(session, powers, request=placed, plan=plan, notes=notes)
    await store.delete_steps(session, operation_id)
    await session.flush()
    row.request = request.model_dump(mode="json")
    row.procedure = None
    row.plan_author = by.name
    details: dict[str, JsonValue] = {"old_plan_hash": row.plan_hash}
    if placed.scheduled_time != row.scheduled_time:
        row.scheduled_time = placed.scheduled_time
        details["at"] = iso(placed.scheduled_time)
    lifecycle.transition(
        session,
        Attempt(row, by.name, by),
        S.REVIEWING,
        reason="plan amended; earlier approvals are void",
        details=details,
    )
    adopt_plan(
        session,
        row,
        plan,
        finding,
        timeout_s=powers.settings.approval_timeout_s,
        sops=powers.sops,
        consult=consults_planner(powers, request),
    )
    return row
