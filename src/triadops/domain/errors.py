"""The one exception tree of triadops.

Entry points turn these into one readable line (CLI) or a problem body (API); anything
outside this tree is a bug.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TriadError(Exception):
    """Base of every error triadops raises on purpose."""

    status_code = 400
    title = "Bad request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(TriadError):
    """The input is malformed or names something that does not fit."""

    status_code = 422
    title = "Invalid request"


class NotFound(TriadError):
    """A named thing (operation, action, token) does not exist."""

    status_code = 404
    title = "Not found"


class Unauthenticated(TriadError):
    """No identity, or a token that does not match one."""

    status_code = 401
    title = "Unauthenticated"


class Forbidden(TriadError):
    """The identity lacks the power, or would break separation of duties."""

    status_code = 403
    title = "Forbidden"


class Conflict(TriadError):
    """The operation is not in a state that allows this."""

    status_code = 409
    title = "Conflict"


class ActionFailed(TriadError):
    """An action or rollback raised while running; carried into the step record."""

    status_code = 500
    title = "Action failed"

    def __init__(
        self, message: str, *, field: str | None = None, output: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.output: dict[str, Any] = output or {}
        """What the action had to show when it failed (a command's exit code and output),
        kept as the step's output: JSON, with no secret in it."""


class StorageUnavailable(TriadError):
    """The database cannot be reached or is not migrated."""

    status_code = 503
    title = "Storage unavailable"


class RateLimited(TriadError):
    """A principal sends faster than its rate limit; it may retry after `retry_after_s`."""

    status_code = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class FilesInvalid(TriadError):
    """Files of a catalogue that do not load: each problem names its file and key."""

    status_code = 500
    why: ClassVar[str] = ""
    """What follows the first problems: why triad stops, and how to see them all."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{shown}{more}: {self.why}")
        self.problems = problems


class ProceduresInvalid(FilesInvalid):
    """Procedure files that do not load: each problem names its file and key."""

    title = "Procedure files invalid"
    why = (
        "procedures are governance, so triad opens nothing until they load "
        "(`triad procedures validate` lists every problem)"
    )


class RunbooksInvalid(FilesInvalid):
    """Runbook files that do not load: each problem names its file and key."""

    title = "Runbook files invalid"
    why = (
        "triad opens nothing until every runbook loads "
        "(`triad runbooks validate` lists every problem)"
    )


class TasksInvalid(TriadError):
    """Routine maintenance tasks the procedure catalogue refuses: each names its task."""

    status_code = 500
    title = "Maintenance tasks invalid"

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(
            f"{shown}{more}: the task table is governance, so triad opens nothing until it "
            "fits the procedure catalogue"
        )
        self.problems = problems
