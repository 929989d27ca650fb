"""The crown's post-change review: lessons learned and a note, attached to an operation.

An SOP may ask for one (SOP-001's oversight phase, SOP-002's post-incident review); any
change that ended may get one. One review an operation, by a crown other than its
requester, in the transaction that records it in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.constitution.sops import SopCatalogue
from triadops.domain.enums import Authority, OperationStatus, OperationType
from triadops.domain.errors import Conflict, Forbidden, TriadError
from triadops.domain.events import ChangeReviewed
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.domain.rules import Rule, RuleBook
from triadops.domain.sops import REVIEWABLE, ReviewDue, ReviewNotes, SopDetail
from triadops.storage import operations as store
from triadops.storage.reviews import reviews_due
from triadops.storage.tables import OperationRow

_ENDED = frozenset(s.value for s in REVIEWABLE)


@dataclass(frozen=True, slots=True)
class Reviewing:
    """A post-change review, as its rules see it."""

    by: Identity
    row: OperationRow | None = None
    """None before the row is read: only who asks is weighed then, so a principal without
    the power learns nothing of which operations exist."""


class CrownReviews(Rule[bool, Reviewing]):
    """Oversight is the crown's: it reviews what the other branches did."""

    reason = "oversight is the crown's: it reviews what the other branches did"

    def check(self, attempt: Reviewing) -> TriadError | None:
        by = attempt.by
        if by.holds(Authority.CROWN):
            return None
        return Forbidden(
            f"only the crown may review a change; {by.name} does not hold the crown role"
        )


class ChangeHasEnded(Rule[bool, Reviewing]):
    """A change is reviewed once it ended: completed, failed or rolled back."""

    reason = "a change is reviewed once it ended"

    def check(self, attempt: Reviewing) -> TriadError | None:
        row = attempt.row
        if row is None or row.status in _ENDED:
            return None
        ended = ", ".join(sorted(_ENDED))
        return Conflict(
            f"operation {row.id} is {row.status}; only a change that ended ({ended}) is reviewed",
            field="status",
        )


class NotYetReviewed(Rule[bool, Reviewing]):
    """One review an operation: a second would blur whose lessons stand."""

    reason = "one review an operation: a second would blur whose lessons stand"

    def check(self, attempt: Reviewing) -> TriadError | None:
        row = attempt.row
        if row is None or not row.reviewed_by:
            return None
        return Conflict(f"operation {row.id} was reviewed by {row.reviewed_by}")


class NotTheRequester(Rule[bool, Reviewing]):
    """Oversight of one's own change is no oversight: another crown reviews it."""

    reason = "oversight of one's own change is no oversight"

    def check(self, attempt: Reviewing) -> TriadError | None:
        row, by = attempt.row, attempt.by
        if row is None or by.name != row.requested_by:
            return None
        return Forbidden(f"{by.name} requested {row.id} and cannot review it")


REVIEW: RuleBook[bool, Reviewing] = RuleBook(
    "post-change review",
    {False: frozenset({True})},
    [CrownReviews, ChangeHasEnded, NotYetReviewed, NotTheRequester],
)
"""An operation's post-change review: owed or not yet given (False), then given (True)."""


async def review_change(
    session: AsyncSession, *, operation_id: str, by: Identity, notes: ReviewNotes
) -> OperationRow:
    """Record the crown's review of a change that ended; the caller commits."""
    REVIEW.screen(False, True, Reviewing(by))
    row = await store.get_operation(session, operation_id, for_update=True)
    REVIEW.screen(bool(row.reviewed_by), True, Reviewing(by, row))
    row.reviewed_by, row.reviewed_at = by.name, utcnow()
    row.review_lessons, row.review_note = notes.lessons, notes.note
    event = ChangeReviewed(lessons=notes.lessons)
    if notes.note is not None:
        event = event.model_copy(update={"note": notes.note})
    ledger.record(session, event, actor=by.name, operation_id=row.id, at=row.reviewed_at)
    return row


async def sop_detail(
    session: AsyncSession, sops: SopCatalogue, name: str, *, limit: int = 50
) -> SopDetail:
    """Return an SOP with the newest of its operations whose post-change review is due."""
    entry = sops.get(name)
    rows = await reviews_due(session, types=entry.governs if entry.review else [], limit=limit)
    due = [
        ReviewDue(
            operation_id=row.id,
            operation_type=OperationType(row.operation_type),
            status=OperationStatus(row.status),
            requested_by=row.requested_by,
            updated_at=row.updated_at,
        )
        for row in rows
    ]
    return SopDetail(**entry.model_dump(), reviews_due=due)
