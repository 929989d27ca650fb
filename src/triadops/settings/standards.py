"""The standard changes section: when a plan that keeps passing is proposed for pre-approval."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StandardSettings(BaseModel):
    """ServiceNow's standard change, as governance: every writer of a database shares it.

    The rules read it from the database's stored governance where they count a run, so a
    process's own settings never decide it (the server stores its own on start).
    """

    enabled: bool = True
    """Off: success records are still kept, but no plan is proposed and no grant
    pre-approves a run (the runs of a granted plan wait for a person again)."""
    propose_after: int = Field(default=5, ge=2, le=1000)
    """Validated runs in a row, none failed since, before a plan is proposed to the
    legislature; a grant needs the record to still show at least this many."""
