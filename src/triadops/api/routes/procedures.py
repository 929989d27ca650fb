"""The procedure catalogue: what a request may ask for by name, and with which parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from triadops.actions.procedures.views import (
    ProcedureDetail,
    ProcedureLine,
    procedure_detail,
    procedure_lines,
)
from triadops.api.deps import RuntimeDep, Viewer
from triadops.api.schemas import problems

router = APIRouter(prefix="/procedures", tags=["procedures"], responses=problems(401))


class ProcedureList(BaseModel):
    """Every loaded procedure, by name."""

    items: list[ProcedureLine]


@router.get("", operation_id="list_procedures")
async def list_procedures(identity: Viewer, runtime: RuntimeDep) -> ProcedureList:
    """List the procedures this server loaded: built-in, ``$TRIAD_HOME/procedures``, folders."""
    return ProcedureList(items=procedure_lines(runtime.procedures))


@router.get("/{name}", operation_id="read_procedure", responses=problems(404, 422))
async def read_procedure(
    name: Annotated[str, Path(min_length=1, max_length=100)], identity: Viewer, runtime: RuntimeDep
) -> ProcedureDetail:
    """Show one procedure: its steps, declared parameters (with types), authority and risk."""
    return procedure_detail(runtime.procedures, name)
