"""What every command stands on: settings, the local identity and an open Runtime."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import re
import socket
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from triadops.cli.clicktypes import get_current_context
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import record_refusal
from triadops.domain.errors import Forbidden, StorageUnavailable, TriadError
from triadops.domain.identity import ALL_ROLES, Identity
from triadops.domain.operations import Reason
from triadops.domain.principals import LOCAL_SUFFIX, local_operator, new_principal_problem
from triadops.logconfig import logging_configured
from triadops.logfiles import LogFiles
from triadops.runtime import Runtime
from triadops.settings import HOME_DIR, ConfigFileMissing, Settings, config_file
from triadops.settings.logs import secret_values

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


class BadInput(Exception):
    """Input the command cannot use (a flag, JSON, a file or a setting); exits 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def describe_validation(exc: ValidationError, *, prefix: str = "") -> str:
    """Return the first problem of a validation error as ``where: what``, on one line."""
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"]) or exc.title
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"{prefix}{loc}: {first['msg']}{more}"
    return " ".join(message.split())


def choice(kind: type[E], value: str, flag: str) -> E:
    """Return `value` as a member of `kind`; otherwise BadInput listing the choices.

    Plain strings, not Typer enums: a bad value then gets one line, not a usage panel.
    """
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise BadInput(f"{flag}: {value!r} is not one of {known}") from None


_REASON: TypeAdapter[str] = TypeAdapter(Reason)


def checked_reason(value: str, flag: str = "--reason") -> str:
    """Return a reason under the API's rule (trimmed, 1 to 2000 characters, no NUL)."""
    try:
        return _REASON.validate_python(value)
    except ValidationError as exc:
        raise BadInput(f"{flag}: {exc.errors()[0]['msg']}") from None


def load_settings() -> Settings:
    """Read triad.toml and TRIAD_* variables; a bad value or file is BadInput saying where.

    Where is the key (and the variable, when one held it) or the file's line and column;
    never the value, which may be a password in a database URL.
    """
    try:
        return Settings()
    except ConfigFileMissing as exc:
        raise BadInput(f"{exc.variable}: {exc.path}: no such file") from None
    except ValidationError as exc:
        raise BadInput(
            f"invalid setting (TRIAD_* variable or {_config_label()}): " + describe_validation(exc)
        ) from None
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line L, column C)"
        raise BadInput(f"{_config_label()}: not valid TOML: {exc}") from None
    except SettingsError as exc:
        raise BadInput(_describe_settings_error(exc)) from None


def _config_label() -> str:
    return str(config_file() or "TRIAD_CONFIG")


_UNPARSED = re.compile(r'field "(?P<key>\w+)" from source "(?P<source>\w+)"')


def _describe_settings_error(exc: SettingsError) -> str:
    """Name the key pydantic-settings could not parse (a TRIAD_* variable's JSON, mostly)."""
    found = _UNPARSED.search(str(exc))
    why = f": {exc.__cause__}" if exc.__cause__ else ""
    if found and found["source"] == "EnvSettingsSource":
        return f"invalid setting TRIAD_{found['key'].upper()}: cannot parse its value{why}"
    key = found["key"] if found else "?"
    return f"invalid setting {key} (TRIAD_* variable or {_config_label()}): cannot parse it{why}"


def local_identity(name: str | None) -> Identity:
    """Return the local operator: `name`, or ``<os-user>@local``, trusted with every role.

    Separation of duties still holds: the services refuse, for instance, an approval of
    one's own request.
    """
    chosen = name is not None
    if name is None:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):
            user = "operator"
        # ``<user>@local``: a name no token's principal may take, so the ledger never
        # confuses the machine's operator with a token called ``root``.
        try:
            name = local_operator(user)
        except ValueError:
            name = local_operator("operator")
    try:
        identity = Identity(name=name, roles=ALL_ROLES)
    except ValidationError as exc:
        raise BadInput(describe_validation(exc, prefix="--as: ").replace("name: ", "")) from None
    # A chosen name is a person's: none that passes for another or for triadops itself.
    problem = new_principal_problem(identity.name) if chosen else None
    if problem is not None and not identity.name.endswith(LOCAL_SUFFIX):
        raise BadInput(f"--as: {problem}")
    _acting.set(identity)
    return identity


_acting: ContextVar[Identity | None] = ContextVar("triad_acting", default=None)
"""Who the running command acts as, for the record of a refusal."""


async def _record_refusal(rt: Runtime, exc: Forbidden) -> None:
    """Put a refused governance action on the ledger's record, as the API does."""
    identity = _acting.get()
    if identity is None:
        return
    click_ctx = get_current_context(silent=True)
    action = click_ctx.command_path if click_ctx else "triad"
    async with rt.session() as session:
        record_refusal(session, actor=identity.name, action=action, reason=exc.message)
        await lifecycle.commit(session)


def _database_label(settings: Settings) -> str:
    try:
        return make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable database_url)"


def require_database(settings: Settings) -> None:
    """Refuse, as StorageUnavailable, to go on when the SQLite database is not there yet.

    A command that only reads (or decides on what must already exist) never creates a
    database: from the wrong folder it would list an empty one and say nothing was found.
    """
    found = settings.sqlite_file
    if found is None or found.exists():
        return
    where = f"no triad database at {found}"
    if "TRIAD_HOME" not in os.environ and "TRIAD_DATABASE_URL" not in os.environ:
        where += f" (no {HOME_DIR} folder in {Path.cwd()} or above)"
    raise StorageUnavailable(
        f"{where}: run this where `triad serve` keeps its data, or set TRIAD_HOME or TRIAD_URL"
    )


async def open_runtime(settings: Settings) -> Runtime:
    """Open a Runtime (migrating); a database that cannot be reached is StorageUnavailable."""
    try:
        return await Runtime.open(settings)
    except (SQLAlchemyError, OSError) as exc:
        reason = " ".join(str(exc).split("\n", 1)[0].split()) or type(exc).__name__
        raise StorageUnavailable(
            f"cannot open the database {_database_label(settings)}: {reason}"
        ) from None


@contextmanager
def cli_logging(
    level: int, *, files: LogFiles | None = None, secrets: Iterable[str] | None = None
) -> Iterator[None]:
    """Send structured logs at `level` and above to stderr, so stdout stays the output.

    One ``key=value`` line an event, secrets masked (`triadops.logconfig`). The previous
    configuration comes back afterwards: commands run inside other programs (tests, the
    API's own process) must not leave their logging changed.
    """
    with logging_configured(level, renderer="logfmt", files=files, secrets=secrets):
        yield


def refuse_remotely(why: str | None = None) -> None:
    """Refuse a command that works on the database only while a server is configured.

    It must never quietly work on a local database while the user meant the server. `why`
    says why the command is local-only (default: it has no API yet).
    """
    from triadops.cli.hosts import remote_target  # here: hosts needs BadInput from here

    target = remote_target()
    if target is None:
        return
    click_ctx = get_current_context(silent=True)
    command = click_ctx.command_path if click_ctx else "this command"
    reason = why or "it is not available remotely yet"
    raise TriadError(
        f"{command} works on the database only ({reason}), not through {target.url} (from "
        "TRIAD_URL or triad login): run it where the database is, with TRIAD_URL= set empty"
    )


def _writer() -> str:
    """Name this process as a writer: the command, the user and the host."""
    click_ctx = get_current_context(silent=True)
    command = click_ctx.command_path if click_ctx else "triad"
    return f"{command} ({local_name()} on {socket.gethostname()})"


def local_name() -> str:
    """Return the OS user's name, or ``operator`` when it cannot be found."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "operator"


def refuse_as(as_name: str | None) -> None:
    """Refuse ``--as`` remotely: the token decides who acts, not a flag."""
    if as_name is not None:
        raise BadInput("--as: remotely the token decides who acts; use that person's token")


def run(
    work: Callable[[Runtime], Awaitable[T]],
    *,
    creates: bool = False,
    writes: bool = False,
    serves: bool = False,
    local_only: str | None = None,
    log_level: int = logging.WARNING,
    log_files: bool = False,
) -> T:
    """Open a Runtime from the settings, run `work` with it in a fresh event loop, close it.

    Only a command that `creates` (serve, worker, submit, token create, ...) may make a
    database that is not there yet; any other refuses in one line (`require_database`).
    Unless it `serves` (serve, worker: they run where the database is), a command that
    reaches here while a server is configured is refused (`refuse_remotely`, saying
    `local_only`: why it has no API). A command
    that `writes` first checks that this process governs as the database says
    (`Runtime.check_governance`); one that only reads may run under other settings.
    With `log_files` (a worker), its events go to triad's per-branch log files too.
    """
    if not serves:
        refuse_remotely(local_only)
    settings = load_settings()
    if not creates:
        require_database(settings)

    async def within() -> T:
        rt = await open_runtime(settings)
        try:
            if writes:
                await rt.check_governance(writer=_writer())
            return await work(rt)
        except Forbidden as exc:
            await _record_refusal(rt, exc)
            raise
        finally:
            await rt.close()

    files = settings.logs.open_files(settings.log_dir) if log_files else None
    with cli_logging(log_level, files=files, secrets=secret_values(settings)):
        return asyncio.run(within())


AsName = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="NAME",
        help="Act as NAME (default: <os-user>@local); the local operator holds every role.",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, nothing else.")]
