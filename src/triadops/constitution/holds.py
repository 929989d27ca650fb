"""What a journey needs of the worker's lease keeper, without importing the worker.

The lease keeper lives in ``triadops.worker`` (a layer above the constitution); a journey
only holds its operation's lease, watches an interruptible step's cancel request and lets
go, through this protocol.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(eq=False)
class Hold:
    """One operation this worker holds: whether its lease was lost, and whether to stop."""

    operation_id: str
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a renewal found the lease gone (expired, or taken by another worker)."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when someone asked to cancel the operation while a step was watched."""
    cancelled_by: str | None = None
    watched: bool = False
    """True while an interruptible step runs: its cancel request is read often."""


class Leases(Protocol):
    """The lease keeper as a journey sees it (``triadops.worker.lease_keeper.LeaseKeeper``)."""

    def hold(self, operation_id: str) -> Hold:
        """Start keeping the lease of an operation this worker has just claimed."""
        ...

    def release(self, hold: Hold) -> None:
        """Stop keeping a lease (the journey ended: released, lost, or left to expire)."""
        ...

    def watch(self, hold: Hold, watched: bool) -> None:
        """Read `hold`'s cancel request often (an interruptible step runs), or stop reading."""
        ...
