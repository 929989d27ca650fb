"""Named procedures: reviewed recipes of steps that requests can ask for by name."""

from __future__ import annotations

from pydantic import BaseModel, Field

from triadops.domain.errors import NotFound
from triadops.domain.operations import StepSpec

DEFAULT_CRITERIA = [
    "system_functionality_maintained",
    "performance_within_baseline",
    "no_data_loss",
    "constitutional_compliance_verified",
]


class Procedure(BaseModel):
    """A named list of steps with the rollback plan and criteria that go with it."""

    name: str
    description: str
    steps: list[StepSpec]
    rollback_plan: str
    validation_criteria: list[str] = Field(default_factory=lambda: list(DEFAULT_CRITERIA))
    affected_systems: list[str] = Field(default_factory=list)


PROCEDURES: dict[str, Procedure] = {
    p.name: p
    for p in (
        Procedure(
            name="database_optimization",
            description="VACUUM/ANALYZE, REINDEX and a statistics reset on a database",
            steps=[
                StepSpec(action="database.vacuum_analyze"),
                StepSpec(action="database.reindex"),
                StepSpec(action="database.reset_stats"),
            ],
            rollback_plan=(
                "No data changes: VACUUM and REINDEX rebuild storage in place; statistics "
                "are re-collected by the next ANALYZE."
            ),
            affected_systems=["database"],
        ),
        Procedure(
            name="log_rotation",
            description="Rotate and compress log files over their size or age limit",
            steps=[StepSpec(action="logs.rotate")],
            rollback_plan="Rotated files are kept beside the originals until purged.",
            validation_criteria=["system_functionality_maintained", "no_data_loss"],
            affected_systems=["logs"],
        ),
        Procedure(
            name="cache_cleanup",
            description="Remove expired entries from triad's cache folders",
            steps=[StepSpec(action="cache.cleanup")],
            rollback_plan="Cache entries are rebuilt on demand; nothing to restore.",
            validation_criteria=["system_functionality_maintained"],
            affected_systems=["cache"],
        ),
    )
}


def get_procedure(name: str) -> Procedure:
    """Return the procedure called `name`, or raise NotFound listing the catalogue."""
    try:
        return PROCEDURES[name]
    except KeyError:
        known = ", ".join(sorted(PROCEDURES))
        raise NotFound(f"unknown procedure {name!r} (known: {known})", field="procedure") from None
