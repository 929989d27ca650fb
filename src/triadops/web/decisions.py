"""Decisions posted from an operation's page: approve, reject, cancel, acknowledge, rule.

Each post is checked in this order before anything changes: a live session, its CSRF
token, then the form's fields; then the same service the API calls decides, under its own
rules (separation of duties, the state, the plan hash the page showed). A critical-risk
approval also asks for the token again and checks it is the signed-in principal's.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from triadops.constitution import lifecycle
from triadops.constitution.crown.reviews import review_change
from triadops.constitution.crown.service import acknowledge, cancel_operation
from triadops.constitution.judicial.service import resolve_in_doubt
from triadops.constitution.legislative.approvals import approve_operation, reject_operation
from triadops.domain.enums import Authority, Risk, Role
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import PlanHash
from triadops.domain.sops import ReviewNotes
from triadops.domain.values import Reason
from triadops.storage.records import load_operation
from triadops.web import sessions
from triadops.web.render import read_form, runtime_of

router = APIRouter(prefix="/operations/{operation_id}")

_Form = TypeVar("_Form", bound=BaseModel)


class ApproveForm(BaseModel):
    """The plan hash the page showed, the authority chosen, the token again if critical."""

    model_config = ConfigDict(extra="ignore")

    plan_hash: PlanHash
    authority: Authority = Authority.LEGISLATIVE
    token: str | None = None


class ReasonForm(BaseModel):
    """Why (a rejection needs one; a cancellation may give one)."""

    model_config = ConfigDict(extra="ignore")

    reason: Reason | None = None


class ResolveForm(BaseModel):
    """The judiciary's ruling on the interrupted step: did it take effect?"""

    model_config = ConfigDict(extra="ignore")

    step_succeeded: bool


class ReviewForm(ReviewNotes):
    """The crown's post-change review: lessons learned, and a note (the API's rules)."""

    model_config = ConfigDict(extra="ignore")


_DECIDERS = (Role.LEGISLATIVE, Role.CROWN)
_JUDGES = (Role.JUDICIAL, Role.CROWN)
_AUTHORITIES = (Role.LEGISLATIVE, Role.EXECUTIVE, Role.JUDICIAL, Role.CROWN)


async def posted(
    request: Request, model: type[_Form], *roles: Role
) -> tuple[sessions.Signed, _Form]:
    """Return the session and the form, once the session, its roles and CSRF are checked."""
    signed = await sessions.signed_in(runtime_of(request), request)
    form = await read_form(request)
    sessions.check_csrf(signed, form.get("csrf"))
    sessions.require(signed, *roles)
    try:
        return signed, model.model_validate({k: v for k, v in form.items() if v != ""})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"{field}: {first['msg']}", field=field) from None


def _back(request: Request, operation_id: str) -> Response:
    return RedirectResponse(
        f"{request.scope.get('root_path', '')}/operations/{operation_id}", status_code=303
    )


@router.post("/approve")
async def approve(request: Request, operation_id: str) -> Response:
    """Approve the plan the page showed, by its hash (refused if the plan changed since)."""
    runtime = runtime_of(request)
    signed, form = await posted(request, ApproveForm, *_DECIDERS)
    async with runtime.session(read_only=True) as session:
        found = await load_operation(session, operation_id)
    finding = found.planning_result
    if finding is not None and finding.risk_level is Risk.CRITICAL:
        await sessions.confirm_token(runtime, signed, form.token)
    async with runtime.session() as session:
        await approve_operation(
            session,
            runtime.powers,
            operation_id=operation_id,
            approver=signed.identity,
            authority=form.authority,
            plan_hash=form.plan_hash,
        )
        await lifecycle.commit(session)
    return _back(request, operation_id)


@router.post("/reject")
async def reject(request: Request, operation_id: str) -> Response:
    """Refuse an operation awaiting approval, with the reason on the record."""
    signed, form = await posted(request, ReasonForm, *_DECIDERS)
    if form.reason is None:
        raise InvalidRequest("reason: a rejection gives its reason", field="reason")
    async with runtime_of(request).session() as session:
        await reject_operation(
            session, operation_id=operation_id, by=signed.identity, reason=form.reason
        )
        await lifecycle.commit(session)
    return _back(request, operation_id)


@router.post("/cancel")
async def cancel(request: Request, operation_id: str) -> Response:
    """Cancel (the requester or the crown)."""
    signed, form = await posted(request, ReasonForm, *_AUTHORITIES)
    async with runtime_of(request).session() as session:
        await cancel_operation(
            session, operation_id=operation_id, by=signed.identity, reason=form.reason
        )
        await lifecycle.commit(session)
    return _back(request, operation_id)


@router.post("/acknowledge")
async def acknowledge_emergency(request: Request, operation_id: str) -> Response:
    """Acknowledge an emergency, as a crown identity other than its requester."""
    signed, _ = await posted(request, ReasonForm, Role.CROWN)
    async with runtime_of(request).session() as session:
        await acknowledge(session, operation_id=operation_id, by=signed.identity)
        await lifecycle.commit(session)
    return _back(request, operation_id)


@router.post("/review")
async def review(request: Request, operation_id: str) -> Response:
    """Record the crown's post-change review of a change that ended (not its requester's)."""
    signed, form = await posted(request, ReviewForm, Role.CROWN)
    notes = ReviewNotes(lessons=form.lessons, note=form.note)
    async with runtime_of(request).session() as session:
        await review_change(session, operation_id=operation_id, by=signed.identity, notes=notes)
        await lifecycle.commit(session)
    return _back(request, operation_id)


@router.post("/resolve")
async def resolve(request: Request, operation_id: str) -> Response:
    """Rule whether the interrupted step of an operation in doubt took effect (judicial)."""
    signed, form = await posted(request, ResolveForm, *_JUDGES)
    async with runtime_of(request).session() as session:
        await resolve_in_doubt(
            session,
            operation_id=operation_id,
            step_succeeded=form.step_succeeded,
            by=signed.identity,
        )
        await lifecycle.commit(session)
    return _back(request, operation_id)
