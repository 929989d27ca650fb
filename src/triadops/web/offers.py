"""Which decisions a page offers to whom: a courtesy, never the gate.

A button is shown only where the signed-in roles could use it; the services' own rules
(separation of duties, the plan hash, the state) decide every post whatever was shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from triadops.domain.enums import OperationStatus, Role
from triadops.domain.identity import Identity
from triadops.domain.sops import REVIEWABLE

_JUDGES = frozenset({Role.JUDICIAL, Role.CROWN})


@dataclass(frozen=True)
class Offers:
    """The decisions a page shows."""

    approve: bool = False
    reject: bool = False
    cancel: bool = False
    acknowledge: bool = False
    review: bool = False
    resolve: bool = False


def offers(
    identity: Identity,
    *,
    status: OperationStatus,
    requester: str | None = None,
    emergency: bool = False,
    reviewed: bool = False,
) -> Offers:
    """Return the decisions `identity` may try on an operation in `status`."""
    legislates = bool(identity.roles & {Role.LEGISLATIVE, Role.CROWN})
    crown = Role.CROWN in identity.roles
    authority = bool(identity.roles - {Role.VIEWER})
    own = requester is not None and requester == identity.name
    deciding = status is OperationStatus.AWAITING_APPROVAL and legislates and not own
    return Offers(
        approve=deciding,
        reject=deciding,
        cancel=not status.is_final and authority and (crown or own),
        acknowledge=emergency and crown and not own,
        review=status in REVIEWABLE and crown and not own and not reviewed,
        resolve=status is OperationStatus.IN_DOUBT and bool(identity.roles & _JUDGES),
    )
