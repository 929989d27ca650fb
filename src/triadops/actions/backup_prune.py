"""``backup.prune``: retention by age, never the newest verified backup nor the newest of all."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from triadops.actions.backup_store import backup_store
from triadops.actions.base import Action, ActionContext, Output
from triadops.domain.backups import Kept, prunable
from triadops.domain.enums import Risk
from triadops.domain.operations import StepPreview, utcnow
from triadops.storage.backups import delete_backups, retention_view
from triadops.storage.targets import OWN_DATABASE


class PruneParams(BaseModel):
    """How old a backup may get."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    older_than_days: int | None = Field(default=None, ge=1, le=36_500)
    """Delete backups older than this many days; default ``backups.keep_days``."""


class PruneBackupsAction(Action[PruneParams]):
    """Delete database backups past retention: their rows, then their folders."""

    name: ClassVar[str] = "backup.prune"
    description: ClassVar[str] = (
        "Delete database backups older than the retention (backups.keep_days), never the "
        "newest whose recovery test passed nor the newest of all"
    )
    params_model: ClassVar[type[BaseModel]] = PruneParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = False
    """A deleted backup is gone; the newest verified one always stays."""
    idempotent: ClassVar[bool] = True

    async def _chosen(self, ctx: ActionContext, params: PruneParams) -> tuple[list[str], int]:
        days = params.older_than_days or ctx.settings.backups.keep_days
        rows = await retention_view(ctx.databases.get(OWN_DATABASE), "database")
        kept = [Kept(id=i, created_at=c, tested_at=t) for i, c, t in rows]
        return prunable(kept, cutoff=utcnow() - timedelta(days=days)), days

    async def preview(self, ctx: ActionContext, params: PruneParams) -> StepPreview:
        """Name the backups that would be deleted."""
        ids, days = await self._chosen(ctx, params)
        return StepPreview(
            summary=f"delete {len(ids)} database backups older than {days} days",
            touches=[backup_store(ctx.settings).location(i) for i in ids],
            amounts={"backups": len(ids)},
        )

    async def run(self, ctx: ActionContext, params: PruneParams) -> Output:
        """Delete the rows, then the folders; answer what went."""
        ids, days = await self._chosen(ctx, params)
        deleted = await delete_backups(ctx.databases.get(OWN_DATABASE), ids)
        store = backup_store(ctx.settings)
        for backup_id in ids:  # files left by a failure here are only disk, not a backup
            await store.remove(backup_id)
        ctx.log.info("backups pruned", deleted=deleted, older_than_days=days)
        return {"deleted": list[JsonValue](ids), "older_than_days": days}
