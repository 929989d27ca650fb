"""Named procedures: reviewed recipes of steps, declared as files, that requests ask for by name.

The file format is in ``docs/procedures.md``; the built-in ones are files of the same form
in ``builtin/``.
"""

from triadops.actions.procedures.catalogue import (
    BUILTIN,
    Entry,
    ProcedureCatalogue,
    check_paths,
    folders,
    load_catalogue,
)
from triadops.actions.procedures.files import Problem
from triadops.actions.procedures.model import DEFAULT_CRITERIA, Procedure, ProcedureStep

__all__ = [
    "BUILTIN",
    "DEFAULT_CRITERIA",
    "Entry",
    "Problem",
    "Procedure",
    "ProcedureCatalogue",
    "ProcedureStep",
    "check_paths",
    "folders",
    "load_catalogue",
]
