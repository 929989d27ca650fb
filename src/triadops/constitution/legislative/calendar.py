"""The legislature's calendar: windows and blackouts place a request; a busy system is a warning.

A non-emergency request that needs a window (``window``) is placed by ``placement``: at the
quietest slot when it names no time, else at the next slot that fits. Any other
non-emergency request whose time (or now, when it names none) falls in a blackout is
scheduled for the blackout's end and told so. A request naming an affected system that an
operation queued or executing in the same slot also names is warned, with the next slot
that fits (after ServiceNow's conflict detection: it warns, it does not block). A slot is the
window occurrence the time falls in; outside every window, "now" is one slot.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.legislative.placement import place_in_window
from triadops.domain.operations import OperationRequest, StoredRequest, utcnow
from triadops.domain.windows import MaintenanceWindow, Slot, clear_of, covering, next_slot
from triadops.settings import Settings
from triadops.storage import operations as store


async def place(
    session: AsyncSession,
    settings: Settings,
    request: OperationRequest,
    *,
    declared_s: float | None = None,
) -> tuple[OperationRequest, list[str]]:
    """Return the request with the time it may run at, and what the calendar found.

    `declared_s` is the procedure's ``expected_duration_s``, for work that needs a window.
    """
    if request.is_emergency:
        return request, []
    now = utcnow()
    notes: list[str] = []
    if request.window is not None:
        request, notes = await place_in_window(
            session, settings, request, now=now, declared_s=declared_s
        )
    when = request.scheduled_time or now
    blackouts = settings.maintenance_blackouts
    inside = covering(blackouts, when)
    if inside is not None:
        fits = clear_of(blackouts, when)
        notes.append(
            f"{when.isoformat()} falls in a blackout until {inside[1].isoformat()}; "
            f"scheduled for the next slot that fits: {fits.isoformat()}"
        )
        request = request.model_copy(update={"scheduled_time": fits})
        when = fits
    clash = await _clash(session, settings, request, when, now)
    if clash is not None:
        notes.append(clash)
    return request, notes


async def _clash(
    session: AsyncSession,
    settings: Settings,
    request: OperationRequest,
    when: datetime,
    now: datetime,
) -> str | None:
    """Name the first queued or running operation sharing a system in `when`'s slot."""
    systems = set(request.affected_systems)
    if not systems:
        return None
    windows = settings.maintenance_windows
    mine = _slot(windows, when, now)
    for row in await store.scheduled_or_running(session):
        if row.id == request.operation_id:
            continue
        stored = StoredRequest.model_validate(row.request or {})
        shared = systems & set(stored.affected_systems)
        theirs = _slot(windows, max(row.scheduled_time or now, now), now)
        if not shared or not _overlap(mine, theirs):
            continue
        after = max(mine[1], theirs[1])
        fits = next_slot(windows, settings.maintenance_blackouts, after)
        then = fits.isoformat() if fits else "none within the horizon"
        return (
            f"conflict: {row.id} also changes {', '.join(sorted(shared))} in the same slot "
            f"({theirs[0].isoformat()}); next slot that fits: {then}"
        )
    return None


def _slot(windows: list[MaintenanceWindow], when: datetime, now: datetime) -> Slot:
    """The window occurrence `when` falls in; outside windows, now (or `when`) alone."""
    found = covering(windows, when)
    if found is not None:
        return found
    moment = max(when, now)
    return moment, moment


def _overlap(a: Slot, b: Slot) -> bool:
    """Whether two slots share an instant (a moment slot shares its own)."""
    return a == b or (a[0] < b[1] and b[0] < a[1]) or a[0] == b[0]
