"""The backup endpoints: list and show, and backups, verifications and recovery tests run.

``POST /backups/database`` backs up a database target; ``POST /backups/{type}`` the other
types (configurations, logs, system_state, and command with the entry's ``name``).

Each run is an operation through the pipeline in the caller's name (202 with its id, then
``GET /operations/{operation_id}``), as the maintenance endpoints do; the executive or the
legislative role may ask, invoking the executive authority when the caller holds it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from triadops.api.deps import Maintainer, PowersDep, RuntimeDep, Viewer
from triadops.api.routes.maintenance import Submitted, accepted
from triadops.api.routes.operations import store_submission
from triadops.api.schemas import problems
from triadops.domain.backups import Backup, BackupType
from triadops.domain.enums import Authority, Role
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationRequest
from triadops.ops.backup import models
from triadops.ops.backup.requests import (
    backup_request,
    check_request,
    prune_request,
    restore_request,
)
from triadops.storage.targets import OWN_DATABASE

router = APIRouter(tags=["backups"], responses=problems(401, 403))
BackupId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ACCEPTED = accepted(404, 409, 422)


class BackupRun(BaseModel):
    """What to back up."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    target: str = Field(
        default=OWN_DATABASE, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    """A configured database target; ``triad`` is triad's own database."""


def _authority(identity: Identity) -> Authority:
    return Authority.EXECUTIVE if Role.EXECUTIVE in identity.roles else Authority.LEGISLATIVE


async def _submit(
    runtime: RuntimeDep, powers: PowersDep, identity: Identity, request: OperationRequest
) -> Submitted:
    view = await store_submission(runtime, powers, request, identity)
    return Submitted(
        operation_id=view.operation_id,
        status=view.status,
        status_reason=view.status_reason,
        location=f"/operations/{view.operation_id}",
    )


@router.get("/backups", operation_id="list_backups", responses=problems(422))
async def list_backups(
    identity: Viewer,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=models.LISTED)] = models.LISTED,
    type: Annotated[BackupType | None, Query()] = None,
) -> list[Backup]:
    """List the backups, newest first (of one type when given), with their recovery test."""
    async with runtime.session(read_only=True) as session:
        return await models.list_backups(
            session, runtime.settings.backup_folder, type_=type, limit=limit
        )


@router.get("/backups/{backup_id}", operation_id="read_backup", responses=problems(404, 422))
async def read_backup(identity: Viewer, runtime: RuntimeDep, backup_id: BackupId) -> Backup:
    """Return one backup: its manifest, files and checksums, row counts, recovery test."""
    async with runtime.session(read_only=True) as session:
        return await models.show_backup(session, runtime.settings.backup_folder, backup_id)


@router.post(
    "/backups/database",
    operation_id="run_database_backup",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ACCEPTED,
)
async def run_database_backup(
    identity: Maintainer, runtime: RuntimeDep, powers: PowersDep, body: BackupRun | None = None
) -> Submitted:
    """Submit a ``backup_database`` operation in the caller's name; answer with its id."""
    target = (body or BackupRun()).target
    request = backup_request(
        type_="database", target=target, requested_by=identity.name, authority=_authority(identity)
    )
    return await _submit(runtime, powers, identity, request)


class Prune(BaseModel):
    """How old a backup may get."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    older_than_days: int | None = Field(default=None, ge=1, le=36_500)
    """Retention in days; default each type's ``keep_days``."""
    type: BackupType | None = None
    """Only backups of this type; default every type."""


@router.post(
    "/backups/prune",
    operation_id="prune_backups",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ACCEPTED,
)
async def prune_backups(
    identity: Maintainer, runtime: RuntimeDep, powers: PowersDep, body: Prune | None = None
) -> Submitted:
    """Submit an operation deleting backups past retention (never a type's newest verified)."""
    given = body or Prune()
    request = prune_request(
        older_than_days=given.older_than_days,
        type_=given.type,
        requested_by=identity.name,
        authority=_authority(identity),
    )
    return await _submit(runtime, powers, identity, request)


class OtherRun(BaseModel):
    """What a backup of another type takes: a command backup, its entry's name."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str | None = Field(default=None, min_length=1, max_length=64)
    """For ``command``: the ``backups.commands`` entry to run."""


@router.post(
    "/backups/{kind}",
    operation_id="run_backup",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ACCEPTED,
)
async def run_backup(
    identity: Maintainer,
    runtime: RuntimeDep,
    powers: PowersDep,
    kind: Annotated[Literal["configurations", "logs", "system_state", "command"], Path()],
    body: OtherRun | None = None,
) -> Submitted:
    """Submit a ``backup_<type>`` operation in the caller's name; answer with its id."""
    request = backup_request(
        type_=kind,
        name=(body or OtherRun()).name,
        requested_by=identity.name,
        authority=_authority(identity),
    )
    return await _submit(runtime, powers, identity, request)


@router.post(
    "/backups/{backup_id}/verify",
    operation_id="verify_backup",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ACCEPTED,
)
async def verify_backup(
    identity: Maintainer, runtime: RuntimeDep, powers: PowersDep, backup_id: BackupId
) -> Submitted:
    """Submit an operation that checks every file of the backup against its manifest."""
    request = check_request(
        action="backup.verify",
        backup_id=backup_id,
        requested_by=identity.name,
        authority=_authority(identity),
    )
    return await _submit(runtime, powers, identity, request)


@router.post(
    "/backups/{backup_id}/test-restore",
    operation_id="test_restore_backup",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ACCEPTED,
)
async def test_restore_backup(
    identity: Maintainer, runtime: RuntimeDep, powers: PowersDep, backup_id: BackupId
) -> Submitted:
    """Submit a recovery test: restore into a scratch database, validate, clean up."""
    request = check_request(
        action="backup.test_restore",
        backup_id=backup_id,
        requested_by=identity.name,
        authority=_authority(identity),
    )
    return await _submit(runtime, powers, identity, request)


class RestoreTo(BaseModel):
    """Where a backup is restored."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    target: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    """A configured database target (not ``triad``): its data is replaced by the backup's."""


@router.post(
    "/backups/{backup_id}/restore",
    operation_id="restore_backup",
    status_code=status.HTTP_202_ACCEPTED,
    responses=ACCEPTED,
)
async def restore_backup(
    identity: Maintainer,
    runtime: RuntimeDep,
    powers: PowersDep,
    backup_id: BackupId,
    body: RestoreTo,
) -> Submitted:
    """Submit a restore over a target: safety backup, restore, rows compared with the manifest.

    Critical: it waits for a legislative and a crown approval of its plan, by two principals
    other than the caller.
    """
    request = restore_request(
        backup_id=backup_id,
        target=body.target,
        requested_by=identity.name,
        authority=_authority(identity),
    )
    return await _submit(runtime, powers, identity, request)
