"""The procedure catalogue as the API answers and the CLI prints it, in either mode."""

from __future__ import annotations

from pydantic import BaseModel

from triadops.actions.procedures.catalogue import ProcedureCatalogue
from triadops.actions.procedures.model import Procedure
from triadops.domain.enums import Authority, OperationType, Risk


class ProcedureLine(BaseModel):
    """One procedure in a listing: what it is, what it needs, where it was declared."""

    name: str
    description: str
    risk: Risk
    operation_type: OperationType
    constitutional_authority: list[Authority]
    steps: int
    """How many steps it runs."""
    source: str
    """The file it was loaded from (``builtin:<file>`` for the ones shipped with triadops)."""


class ProcedureDetail(Procedure):
    """A procedure in full, with the file it was loaded from and its digest."""

    source: str
    sha256: str
    """The sha256 the governance check compares across every writer of a database."""


def procedure_lines(catalogue: ProcedureCatalogue) -> list[ProcedureLine]:
    """List the catalogue, by name."""
    return [
        ProcedureLine(
            name=p.name,
            description=p.description,
            risk=p.risk,
            operation_type=p.operation_type,
            constitutional_authority=p.constitutional_authority,
            steps=len(p.steps),
            source=catalogue.source(p.name),
        )
        for p in catalogue
    ]


def procedure_detail(catalogue: ProcedureCatalogue, name: str) -> ProcedureDetail:
    """Show one procedure in full; NotFound (listing the catalogue) for an unknown name."""
    procedure = catalogue.get(name)
    return ProcedureDetail(
        **procedure.model_dump(), source=catalogue.source(name), sha256=procedure.digest()
    )
