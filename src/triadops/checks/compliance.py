"""``constitutional_compliance_verified``: the ledger, the approvals and the step records agree."""

from __future__ import annotations

from typing import ClassVar

from pydantic import JsonValue

from triadops.checks.base import Check, CheckContext, Measurement
from triadops.domain.chain import link_hash
from triadops.domain.operations import CheckResult, Operation
from triadops.storage.ledger import entry_body, select_operation_entries


def separation_breaches(operation: Operation) -> list[str]:
    """Name approvals of the current plan given by the operation's own requester."""
    requester = operation.request.requested_by
    return [
        f"{a.approver} approved their own request as {a.authority.value}"
        for a in operation.approvals
        if operation.plan_hash is not None
        and a.plan_hash == operation.plan_hash
        and a.approver == requester
    ]


def untimed_steps(operation: Operation) -> list[str]:
    """Name the step records that lack a start or an end time."""
    return [
        f"step {s.index} ({s.action}) has no {'start' if s.started_at is None else 'end'} time"
        for s in operation.steps
        if s.started_at is None or s.ended_at is None
    ]


class ConstitutionalComplianceVerified(Check):
    """The operation's ledger entries verify, approvals were separated, steps were recorded."""

    name: ClassVar[str] = "constitutional_compliance_verified"
    description: ClassVar[str] = (
        "The operation's ledger entries hash correctly, no approval of its plan came from "
        "the requester, and every step record has a start and an end"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Recompute the hash of each of the operation's ledger entries.

        One indexed lookup by operation id: the cost follows this operation's entries,
        never the length of the chain.
        """
        async with ctx.reading() as session:
            rows = await select_operation_entries(session, ctx.operation.operation_id)
        bad_seq: int | None = None
        problem: str | None = None
        previous = None
        for row in rows:
            if row.hash != link_hash(row.prev_hash, entry_body(row)):
                bad_seq, problem = row.seq, "its hash does not match its content"
            elif (
                previous is not None
                and previous.seq + 1 == row.seq
                and (row.prev_hash != previous.hash)
            ):
                # Entries of one operation interleave with others'; only neighbours
                # in the global chain can be link-checked from here.
                bad_seq, problem = row.seq, f"it does not link to entry {previous.seq}"
            if bad_seq is not None:
                break
            previous = row
        result: dict[str, JsonValue] = {
            "entries": len(rows),
            "first_bad_seq": bad_seq,
            "problem": problem,
        }
        return result

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail on a bad ledger entry, a self-approval or a step without timestamps."""
        operation = ctx.operation
        problems: list[str] = []
        entries = after.get("entries")
        if not entries:
            problems.append(f"the ledger holds no entries for {operation.operation_id}")
        if after.get("first_bad_seq") is not None:
            problems.append(f"ledger entry {after['first_bad_seq']}: {after.get('problem')}")
        problems += separation_breaches(operation)
        problems += untimed_steps(operation)
        return CheckResult(
            name=self.name,
            passed=not problems,
            detail="; ".join(problems)
            if problems
            else f"{entries} ledger entries verify, approvals were separated from the "
            f"requester and all {len(operation.steps)} steps were recorded with times",
            before=before,
            after=after,
        )
