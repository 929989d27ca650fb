"""A troubleshooting run: diagnose, resolve through the branches, validate, document.

The resolution is submitted as an operation in the name of whoever started the run, so it
meets the same review, approvals and judgement as any request: a runbook chooses what to
propose, never what is allowed. How the operation is submitted and waited for is the
caller's (the CLI drives it here; the server's worker drives it there); the report is stored
whatever happens, with the ledger entries of the resolution's operation.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import JsonValue

from triadops.actions.procedures import ProcedureCatalogue
from triadops.constitution import ledger, lifecycle
from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority, OperationStatus, OperationType
from triadops.domain.errors import InvalidRequest, TriadError
from triadops.domain.events import IncidentRecorded
from triadops.domain.identity import Identity
from triadops.domain.investigations import Investigation
from triadops.domain.operations import Operation, OperationRequest, StepSpec, utcnow
from triadops.domain.runbooks import (
    Chosen,
    Incident,
    IncidentStep,
    Resolution,
    Runbook,
    RunbookEntry,
    report_digest,
    symptoms,
)
from triadops.ops.runbooks.diagnostics import diagnose
from triadops.storage.incidents import ledger_seqs, save_incident

RECORDER = "crown:incidents"
"""The actor of ``incident_recorded``: the crown, which keeps the record of every incident."""
Submit = Callable[[OperationRequest], Awaitable[str]]
"""Submit a request as its requester's; return the operation's id."""
Investigate = Callable[[Incident], Awaitable[Investigation]]
"""Ask an investigator (read-only) about an incident's diagnosis."""
Settle = Callable[[str], Awaitable[Operation]]
"""Wait for an operation as far as the caller may; return it as it then stands."""
WAITING = frozenset(
    {
        OperationStatus.SUBMITTED,
        OperationStatus.REVIEWING,
        OperationStatus.AWAITING_APPROVAL,
        OperationStatus.APPROVED,
        OperationStatus.SCHEDULED,
        OperationStatus.EXECUTING,
        OperationStatus.VALIDATING,
        OperationStatus.IN_DOUBT,
        OperationStatus.ROLLING_BACK,
    }
)
"""States in which the resolution has not ended: the incident waits, not validated yet."""


def new_incident_id() -> str:
    """``inc-`` and twelve hex digits."""
    return f"inc-{secrets.token_hex(6)}"


def choose(runbook: Runbook, found: list[str], wanted: str | None) -> tuple[Resolution, list[str]]:
    """The resolution to submit and the symptoms that made it apply.

    `wanted` names one (a person's choice); else the first whose ``when`` names a diagnostic
    showing its symptom, or that names none.
    """
    if wanted is not None:
        for fix in runbook.resolutions:
            if fix.name == wanted:
                return fix, [w for w in fix.when if w in found]
        names = ", ".join(f.name for f in runbook.resolutions)
        raise InvalidRequest(
            f"runbook {runbook.name} has no resolution {wanted!r} (it has: {names})",
            field="resolution",
        )
    for fix in runbook.resolutions:
        because = [w for w in fix.when if w in found]
        if because or not fix.when:
            return fix, because
    raise AssertionError("a runbook with symptoms and no resolution applies")  # pragma: no cover


def resolution_request(
    procedures: ProcedureCatalogue,
    runbook: Runbook,
    fix: Resolution,
    *,
    incident_id: str,
    by: Identity,
) -> OperationRequest:
    """The operation that carries out `fix`, requested in `by`'s own name."""
    description = f"{incident_id}: runbook {runbook.name}, resolution {fix.name}"
    if fix.procedure is not None:
        declared = procedures.get(fix.procedure)
        return OperationRequest(
            operation_type=declared.operation_type,
            constitutional_authority=declared.constitutional_authority[0],
            description=description,
            requested_by=by.name,
            procedure=fix.procedure,
            procedure_params=fix.params,
        )
    assert fix.action is not None  # validated: a procedure or an action
    return OperationRequest(
        operation_type=OperationType.MAINTENANCE,
        constitutional_authority=Authority.EXECUTIVE,
        description=description,
        requested_by=by.name,
        steps=[StepSpec(action=fix.action, params=fix.params)],
    )


async def troubleshoot(
    powers: Powers,
    procedures: ProcedureCatalogue,
    entry: RunbookEntry,
    *,
    by: Identity,
    trigger: str,
    resolve: bool,
    submit: Submit,
    settle: Settle,
    resolution: str | None = None,
    alert_id: int | None = None,
    investigate: Investigate | None = None,
    submit_proposal: bool = False,
) -> Incident:
    """Diagnose → resolve (an operation) → validate (diagnose again) → document (store).

    `alert_id`: the firing alert that started it, stored so each alert gets one incident.
    `investigate`: an investigator's findings are stored with the incident; what it proposes
    is shown, and submitted (a procedure, in `by`'s name, through `submit`) only when the
    person asks with `submit_proposal`.
    """
    book = entry.runbook
    incident = Incident(
        id=new_incident_id(),
        runbook=book.name,
        title=book.title,
        status="diagnosed",
        trigger=trigger,
        opened_by=by.name,
        opened_at=utcnow(),
        diagnosis=[],
    )
    step = _timeline(incident)
    incident.diagnosis = await diagnose(powers, book)
    found = symptoms(incident.diagnosis)
    unsure = [f.name for f in incident.diagnosis if f.symptom is None]
    step("diagnose", f"{len(found)} of {len(book.diagnostics)} diagnostics show symptoms"
         + (f": {', '.join(found)}" if found else "")
         + (f"; inconclusive: {', '.join(unsure)}" if unsure else ""))  # fmt: skip
    if investigate is not None:
        asked = submit if submit_proposal else None
        await _investigated(procedures, incident, investigate, by=by, submit=asked, step=step)
    if not found and resolution is None:
        incident.status = "no_symptoms"
        return await _document(powers, incident, step, alert_id)
    fix, because = choose(book, found, resolution)
    incident.chosen = Chosen(
        resolution=fix.name, procedure=fix.procedure, action=fix.action, because=because
    )
    if not resolve:
        step("resolve", f"proposed {fix.name}; not submitted (--no-resolve)")
        return await _document(powers, incident, step, alert_id)
    request = resolution_request(procedures, book, fix, incident_id=incident.id, by=by)
    operation_id = await submit(request)
    incident.chosen.operation_id = operation_id
    step("resolve", f"submitted {fix.name} as operation {operation_id} in {by.name}'s name")
    await _validate(powers, book, incident, await settle(operation_id), found, step)
    incident.ledger = await _references(powers, operation_id)
    return await _document(powers, incident, step, alert_id)


async def _references(powers: Powers, operation_id: str) -> list[int]:
    async with powers.reading() as session:
        return await ledger_seqs(session, operation_id)


Phase = Literal["diagnose", "resolve", "validate", "document"]


async def _validate(
    powers: Powers,
    book: Runbook,
    incident: Incident,
    op: Operation,
    found: list[str],
    step: Callable[[Phase, str], None],
) -> None:
    """Judge the run by its resolution's end: diagnose again only once it completed."""
    assert incident.chosen is not None
    incident.chosen.status = op.status.value
    if op.status in WAITING:
        incident.status = "resolving"
        step("resolve", f"operation {op.operation_id} is {op.status.value}: not validated yet")
    elif op.status is not OperationStatus.COMPLETED:
        incident.status = "unresolved"
        step(
            "resolve",
            f"operation {op.operation_id} ended {op.status.value}: {op.status_reason or ''}",
        )
    else:
        incident.validation = await diagnose(powers, book)
        still = [n for n in symptoms(incident.validation) if n in found]
        incident.status = "unresolved" if still else "resolved"
        step(
            "validate",
            f"still showing: {', '.join(still)}" if still else f"gone: {', '.join(found) or '-'}",
        )


async def _investigated(
    procedures: ProcedureCatalogue,
    incident: Incident,
    investigate: Investigate,
    *,
    by: Identity,
    submit: Submit | None,
    step: Callable[[Phase, str], None],
) -> None:
    """Store the investigator's findings; submit its proposal only if `submit` is given."""
    incident.investigation = found = await investigate(incident)
    proposed = found.proposal.procedure or found.proposal.runbook
    step("diagnose", f"investigated ({found.model}): {found.status}"
         + (f", proposes {proposed}" if proposed else ""))  # fmt: skip
    if submit is not None:
        await _submit_proposal(procedures, incident, found, by=by, submit=submit, step=step)


async def _submit_proposal(
    procedures: ProcedureCatalogue,
    incident: Incident,
    found: Investigation,
    *,
    by: Identity,
    submit: Submit,
    step: Callable[[Phase, str], None],
) -> None:
    """Submit the investigator's proposed procedure as `by`'s own request, as a person asked.

    It meets the same review and approvals as any request; a refusal is noted, not raised.
    """
    name = found.proposal.procedure
    if name is None:
        step("resolve", "the investigator proposed no procedure: nothing submitted for it")
        return
    declared = procedures.get(name)  # checked against the catalogue already
    request = OperationRequest(
        operation_type=declared.operation_type,
        constitutional_authority=declared.constitutional_authority[0],
        description=f"{incident.id}: proposed by the investigator ({found.model})",
        requested_by=by.name,
        procedure=name,
    )
    try:
        found.proposal.operation_id = await submit(request)
    except TriadError as exc:
        found.notes.append(f"proposed procedure {name} not submitted: {exc.message}")
        step("resolve", f"the investigator's proposal {name} was refused: {exc.message}")
        return
    step(
        "resolve",
        f"submitted the investigator's proposal {name} as operation "
        f"{found.proposal.operation_id} in {by.name}'s name",
    )


def _timeline(incident: Incident) -> Callable[[Phase, str], None]:
    def step(phase: Phase, what: str) -> None:
        incident.timeline.append(IncidentStep(at=utcnow(), phase=phase, what=what))

    return step


async def _document(
    powers: Powers, incident: Incident, step: Callable[[Phase, str], None], alert_id: int | None
) -> Incident:
    if incident.status in ("resolved", "unresolved", "no_symptoms"):
        incident.closed_at = utcnow()
    step("document", f"incident {incident.id} stored: {incident.status}")
    report: dict[str, JsonValue] = incident.model_dump(mode="json")
    recorded = IncidentRecorded(
        incident=incident.id,
        runbook=incident.runbook,
        status=incident.status,
        digest=report_digest(report),
    )
    async with powers.sessions() as session:
        await save_incident(
            session,
            incident_id=incident.id,
            runbook=incident.runbook,
            status=incident.status,
            opened_at=incident.opened_at,
            operation_id=incident.chosen.operation_id if incident.chosen else None,
            report=report,
            alert_id=alert_id,
        )
        # SOP-002's post-incident review is this report: the crown records it, digest and all.
        ledger.record(session, recorded, actor=RECORDER)
        await lifecycle.commit(session)
    return incident
