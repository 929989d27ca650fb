"""What reacts to a commit: subscribers the runtime registers, called by `lifecycle.commit`.

The constitution knows that commits happen, not what they mean to the rest of the house:
change-linked silences (``ops.change_silences``) and worker wake-ups (``storage.wakeups``)
subscribe here. Each is called with the session and the typed ledger events queued in the
transaction, before they are linked, so what a subscriber writes (rows, ledger entries)
commits with the transitions that called for it, or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.events import Queued

Entries = Sequence[Queued]
"""The typed ledger events a transaction queued, oldest first (`ledger.queued`)."""
Subscriber = Callable[[AsyncSession, Entries], Awaitable[None]]

_subscribers: list[Subscriber] = []


def register(subscriber: Subscriber) -> None:
    """Call `subscriber` on every commit from now on, after those registered before it.

    Registering the same subscriber again changes nothing: every runtime of a process
    registers the same ones.
    """
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def unregister(subscriber: Subscriber) -> None:
    """Stop calling `subscriber` (a test's own)."""
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def registered() -> tuple[Subscriber, ...]:
    """The subscribers in the order commits call them."""
    return tuple(_subscribers)


async def on_commit(session: AsyncSession, entries: Entries) -> None:
    """Call every subscriber, in order, inside the committing transaction."""
    for subscriber in _subscribers:
        await subscriber(session, entries)
