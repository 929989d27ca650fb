"""The operations the backup commands and endpoints submit, built the same way for both."""

from __future__ import annotations

from pydantic import ValidationError

from triadops.domain.enums import Authority
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import OperationRequest
from triadops.storage.targets import OWN_DATABASE

CRITERIA = ["system_functionality_maintained"]
RESTORE_CRITERION = "restore_matches_backup"
"""The judiciary's measure of a restore (``ops.backup.restored``)."""
NOTHING_TO_UNDO = "Nothing to undo: it only reads the backup and its own scratch database."


def backup_request(
    *,
    type_: str = "database",
    target: str = OWN_DATABASE,
    name: str | None = None,
    requested_by: str,
    authority: Authority,
) -> OperationRequest:
    """A ``backup_<type>`` operation: a database `target`, or the command entry `name`."""
    params: dict[str, str] = {}
    if type_ == "database":
        what = f"database backup of {target}"
        if target != OWN_DATABASE:
            params["target"] = target
    elif type_ == "command":
        if name is None:
            raise InvalidRequest(
                "a command backup needs --name, a backups.commands entry", field="name"
            )
        what = f"backup by the declared command {name}"
        params["name"] = name
    else:
        what = f"{type_.replace('_', ' ')} backup"
    try:
        return OperationRequest.model_validate(
            {
                "operation_type": "maintenance",
                "constitutional_authority": authority,
                "requested_by": requested_by,
                "description": what,
                "procedure": f"backup_{type_}",
                "procedure_params": params,
            }
        )
    except ValidationError:  # what a person typed: a target or a name no request can hold
        raise InvalidRequest(
            f"not a database target or command name: {(name or target)[:100]!r}",
            field="name" if type_ == "command" else "target",
        ) from None


def check_request(
    *, action: str, backup_id: str, requested_by: str, authority: Authority
) -> OperationRequest:
    """A ``backup.verify`` or ``backup.test_restore`` operation on one backup."""
    what = "verification" if action == "backup.verify" else "recovery test"
    return OperationRequest.model_validate(
        {
            "operation_type": "maintenance",
            "constitutional_authority": authority,
            "requested_by": requested_by,
            "description": f"{what} of backup {backup_id}",
            "steps": [{"action": action, "params": {"backup_id": backup_id}}],
            "affected_systems": ["backups"],
            "rollback_plan": NOTHING_TO_UNDO,
            "validation_criteria": CRITERIA,
        }
    )


def prune_request(
    *,
    older_than_days: int | None,
    requested_by: str,
    authority: Authority,
    type_: str | None = None,
) -> OperationRequest:
    """A ``backup.prune`` operation: backups past their type's retention deleted."""
    params: dict[str, object] = {}
    if older_than_days is not None:
        params["older_than_days"] = older_than_days
    if type_ is not None:
        params["type"] = type_
    return OperationRequest.model_validate(
        {
            "operation_type": "maintenance",
            "constitutional_authority": authority,
            "requested_by": requested_by,
            "description": f"prune {type_ + ' ' if type_ else ''}backups past retention",
            "steps": [{"action": "backup.prune", "params": params}],
            "affected_systems": ["backups"],
            "rollback_plan": (
                "Deleted backups cannot come back; the newest backup whose recovery test "
                "passed, and the newest of all, are never deleted."
            ),
            "validation_criteria": CRITERIA,
        }
    )


def restore_request(
    *, backup_id: str, target: str, requested_by: str, authority: Authority
) -> OperationRequest:
    """A restore of `backup_id` over `target`: a safety backup of the target first.

    ``backup.restore`` is critical: the plan waits for a legislative and a crown approval,
    and the executive's consent gate checks both when it starts.
    """
    return OperationRequest.model_validate(
        {
            "operation_type": "maintenance",
            "constitutional_authority": authority,
            "requested_by": requested_by,
            "description": f"restore backup {backup_id} over {target}",
            "steps": [
                {"action": "backup.database", "params": {"target": target}},
                {"action": "backup.restore", "params": {"backup_id": backup_id, "target": target}},
            ],
            "affected_systems": [target, "backups"],
            "rollback_plan": (
                f"The first step's safety backup holds {target} as it was: restore it "
                f"(triad backup restore SAFETY_ID --to {target})."
            ),
            "validation_criteria": [RESTORE_CRITERION],
        }
    )
