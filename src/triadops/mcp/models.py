"""What the tools take and answer, the same whichever `calls.Tools` serves them."""

from __future__ import annotations

from pydantic import BaseModel

from triadops.domain.identity import Identity
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operations import Operation, OperationRequest
from triadops.domain.principals import PrincipalName


class OperationRecord(BaseModel):
    """One operation in full, with every ledger entry about it, oldest first."""

    operation: Operation
    timeline: list[LedgerEntry]


class Cancelled(OperationRecord):
    """The operation after a cancel was accepted, and what happens next."""

    cancel: str
    """``cancelled``, or whether a running step stops now or after it ends."""


class Submission(OperationRequest):
    """An operation request; ``requested_by`` defaults to the token's principal."""

    requested_by: PrincipalName | None = None  # type: ignore[assignment]
    """Who asks; when given it must be the token's own principal (else refused)."""

    def for_requester(self, identity: Identity) -> OperationRequest:
        """Return the request as the legislature sees it, naming the requester."""
        fields = self.model_dump(exclude={"requested_by"})
        return OperationRequest.model_validate(
            {**fields, "requested_by": self.requested_by or identity.name}
        )
