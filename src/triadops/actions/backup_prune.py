"""``backup.prune``: retention by age per type, never the newest verified nor the newest.

Each type keeps its own number of days (``backups.keep_days`` for databases,
``backups.<type>.keep_days`` for the others, each command's own). Backups are judged in
groups of one type and one source (a database target, a command's name), so the newest
verified backup and the newest of each group always stay.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from triadops.actions.backup_store import backup_store
from triadops.actions.base import Action, ActionContext, Output
from triadops.domain.backups import BackupType, Kept, prunable
from triadops.domain.enums import Risk
from triadops.domain.operations import StepPreview, utcnow
from triadops.storage.backups import delete_backups, retention_view
from triadops.storage.targets import OWN_DATABASE


class PruneParams(BaseModel):
    """How old a backup may get, and of which type."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    older_than_days: int | None = Field(default=None, ge=1, le=36_500)
    """Delete backups older than this many days; default each type's ``keep_days``."""
    type: BackupType | None = None
    """Only backups of this type; default every type."""


class PruneBackupsAction(Action[PruneParams]):
    """Delete backups past their type's retention: their rows, then their folders."""

    name: ClassVar[str] = "backup.prune"
    description: ClassVar[str] = (
        "Delete backups older than their type's retention (backups.keep_days, "
        "backups.<type>.keep_days), never the newest of a type and source whose recovery "
        "test passed nor the newest of all"
    )
    params_model: ClassVar[type[BaseModel]] = PruneParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = False
    """A deleted backup is gone; the newest verified one always stays."""
    idempotent: ClassVar[bool] = True

    async def _chosen(self, ctx: ActionContext, params: PruneParams) -> dict[str, list[str]]:
        """The ids to delete, by type."""
        now = utcnow()
        groups: dict[tuple[str, str], list[Kept]] = {}
        for id_, type_, source, created, tested in await retention_view(
            ctx.databases.get(OWN_DATABASE)
        ):
            if params.type is None or type_ == params.type:
                one = Kept(id=id_, created_at=created, tested_at=tested)
                groups.setdefault((type_, source), []).append(one)
        chosen: dict[str, list[str]] = {}
        for (type_, source), kept in sorted(groups.items()):
            days = params.older_than_days or ctx.settings.backups.keep_days_of(type_, source)
            cutoff: datetime = now - timedelta(days=days)
            ids = prunable(kept, cutoff=cutoff)
            if ids:
                chosen.setdefault(type_, []).extend(ids)
        return chosen

    async def preview(self, ctx: ActionContext, params: PruneParams) -> StepPreview:
        """Name how many backups of each type would be deleted."""
        chosen = await self._chosen(ctx, params)
        ids = [i for found in chosen.values() for i in found]
        each = ", ".join(f"{len(v)} {k}" for k, v in sorted(chosen.items())) or "none"
        return StepPreview(
            summary=f"delete {len(ids)} backups past their type's retention ({each})",
            touches=[backup_store(ctx.settings).location(i) for i in ids],
            amounts={"backups": len(ids)},
        )

    async def run(self, ctx: ActionContext, params: PruneParams) -> Output:
        """Delete the rows, then the folders; answer what went, by type."""
        chosen = await self._chosen(ctx, params)
        ids = [i for found in chosen.values() for i in found]
        deleted = await delete_backups(ctx.databases.get(OWN_DATABASE), ids)
        store = backup_store(ctx.settings)
        for backup_id in ids:  # files left by a failure here are only disk, not a backup
            await store.remove(backup_id)
        ctx.log.info("backups pruned", deleted=deleted)
        days = {
            t: params.older_than_days or ctx.settings.backups.keep_days_of(t, "")
            for t in ("database", "configurations", "logs", "system_state")
        }
        return {
            "deleted": list[JsonValue](ids),
            "deleted_by_type": {t: list[JsonValue](v) for t, v in chosen.items()},
            "older_than_days": params.older_than_days or ctx.settings.backups.keep_days,
            "keep_days": dict[str, JsonValue](days),
        }
