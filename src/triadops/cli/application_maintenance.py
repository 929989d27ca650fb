"""``triad maintain application``: the seed's application script as one governed operation.

The request comes from ``ops/maintenance/application.py``: the pull and restart commands
``[maintenance.application]`` names, then cache cleanup, a performance analysis against the
baseline and a new baseline; the judiciary requires the agents' health after. Locally it
reads this machine's settings; through a server (``TRIAD_URL``) it asks the server what its
own settings make of it (``GET /maintenance/application``) and submits that with the token.
"""

from __future__ import annotations

from triadops.cli.context import AsName, JsonFlag, load_settings, local_identity
from triadops.cli.ops import deliver
from triadops.cli.outcome import DryRun, Wait
from triadops.cli.output import console
from triadops.cli.remote import Remote, remote
from triadops.cli.requests import RequestFlags, request_from_flags
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationRequest
from triadops.ops.maintenance.application import (
    ApplicationFields,
    application_fields,
    undeclared,
)


def application_request(requester: Identity, fields: ApplicationFields) -> OperationRequest:
    """Build the application maintenance request in `requester`'s name."""
    flags = RequestFlags(
        operation_type=fields.operation_type,
        authority="executive",
        description=fields.description,
        systems=list(fields.affected_systems),
        rollback_plan=fields.rollback_plan,
        criteria=list(fields.validation_criteria),
        steps=[dict(step) for step in fields.steps],
    )
    return request_from_flags(flags, requester)


def _plan(client: Remote | None) -> tuple[ApplicationFields, str | None]:
    if client is None:
        settings = load_settings()
        return application_fields(settings), undeclared(settings)
    answer = client.call("GET", "/maintenance/application")
    note = answer.get("note")
    return ApplicationFields.model_validate(answer["request"]), None if note is None else str(note)


def application(
    dry_run: DryRun = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Maintain the application: pull, restart, cache, performance; agents' health judged.

    One operation through the four branches: the pull and restart commands named in
    ``[maintenance.application]`` (when declared), cache cleanup, a performance analysis
    against the stored baseline, then a new baseline. The judiciary measures the agents'
    health (``agents_healthy``), the performance against the baseline and the system's
    functionality before and after; a failing step rolls back the ones before it.
    """
    identity = local_identity(as_name)
    client = remote()
    fields, note = _plan(client)
    request = application_request(identity, fields)
    if note:
        console(stderr=True).print(f"note: {note}", markup=False, highlight=False)
    deliver(request, client, identity, dry_run=dry_run, wait=wait, as_json=as_json, as_name=as_name)
