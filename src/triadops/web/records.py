"""The console's pages of alerts and silences, backups, and the audit chain (and its replay)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from triadops.constitution.ledger import audit
from triadops.constitution.ledger.checkpoints import read_log
from triadops.domain.alerts import AlertState
from triadops.domain.checkpoints import Checkpoint
from triadops.domain.clock import utcnow
from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, InvalidRequest
from triadops.domain.ledger import VerifyReport
from triadops.ops.alerts import models as alerts
from triadops.ops.backup import models as backups
from triadops.runtime import Runtime
from triadops.storage.ledger import head
from triadops.web import sessions
from triadops.web.render import read_form, render, runtime_of

router = APIRouter()

LISTED = 50
"""Rows a page of alerts or backups shows."""


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request) -> Response:
    """List alerts newest first (by state), and the silences in force."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    state = request.query_params.get("state") or None
    try:
        states = [AlertState(state)] if state else []
    except ValueError:
        raise InvalidRequest(f"state: {state!r} is not an alert state") from None
    now = utcnow()
    async with runtime.session(read_only=True) as session:
        found = await alerts.list_alerts(session, states=states, limit=LISTED)
        muted = await alerts.list_silences(session, now=now, active_only=True, limit=LISTED)
    return render(
        request,
        "alerts.html",
        signed=signed,
        alerts=found,
        silences=muted,
        state=state,
        states=[s.value for s in AlertState],
        acts=bool(signed.identity.roles - {Role.VIEWER}),
        silences_allowed=bool(
            signed.identity.roles & {Role.EXECUTIVE, Role.LEGISLATIVE, Role.CROWN}
        ),
    )


@router.get("/backups", response_class=HTMLResponse)
async def backups_page(request: Request) -> Response:
    """List backups newest first, each with its last passed recovery test."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    async with runtime.session(read_only=True) as session:
        found = await backups.list_backups(session, runtime.settings.backup_folder, limit=LISTED)
    return render(request, "backups.html", signed=signed, backups=found)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request) -> Response:
    """Show the ledger's head and the last checkpoint its log holds.

    The full replay reads the whole chain, so the page runs it only when asked ("Verify
    now"); opening the page reads the head and the log's last line, and stays cheap.
    """
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    return render(request, "audit.html", **await _audit_context(runtime, signed))


@router.post("/audit/verify", response_class=HTMLResponse)
async def verify_now(request: Request) -> Response:
    """Replay the chain against the stored state, as ``GET /audit/verify`` does, within a limit.

    Any signed-in role may run it, as any token may call the API's route: it reads only.
    Past ``console_verify_timeout_s`` the replay is cancelled (its read transaction ends)
    and the page says so instead of holding the request.
    """
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    sessions.check_csrf(signed, (await read_form(request)).get("csrf"))
    limit_s = runtime.settings.console_verify_timeout_s
    running = _verifying(request)
    if running.locked():  # one replay at a time: a flood of clicks is not a flood of replays
        raise Conflict("a verify is running already; its result shows when it ends")
    report: VerifyReport | None = None
    try:
        async with (
            running,
            asyncio.timeout(limit_s),
            runtime.session(read_only=True) as session,
        ):
            report = await audit.verify(session, alerts=runtime.settings.alerts)
    except TimeoutError:
        report = None
    context = await _audit_context(runtime, signed) | {
        "verified": report,
        "timed_out": report is None,
    }
    return render(request, "audit.html", **context)


def _verifying(request: Request) -> asyncio.Lock:
    """The console's one-at-a-time lock on "Verify now" (made on first use)."""
    state = request.app.state
    if not hasattr(state, "verifying"):
        state.verifying = asyncio.Lock()
    lock: asyncio.Lock = state.verifying
    return lock


async def _audit_context(runtime: Runtime, signed: sessions.Signed) -> dict[str, Any]:
    """Return what the audit page shows: the ledger's head and its last checkpoint."""
    async with runtime.session(read_only=True) as session:
        seq, digest = await head(session)
    log_path = runtime.settings.resolved_checkpoint_log
    lines = await asyncio.to_thread(read_log, log_path)
    last = _last_checkpoint(lines)
    return {
        "signed": signed,
        "head_seq": seq,
        "head_hash": digest,
        "checkpoint": last,
        "log_path": str(log_path),
        "log_lines": len([line for line in lines if line.strip()]),
        "behind": None if last is None else seq - last.seq,
        "verified": None,
        "timed_out": False,
        "verify_limit_s": runtime.settings.console_verify_timeout_s,
    }


def _last_checkpoint(lines: list[str]) -> Checkpoint | None:
    """Return the log's last checkpoint as written (its signature is checked by verify)."""
    for text in reversed(lines):
        if text.strip():
            try:
                return Checkpoint.model_validate_json(text)
            except ValidationError:
                return None
    return None
