"""``triad``: the command line, and the one place its errors become one line and an exit code.

Exit codes: 0 done; 1 refused or failed (any TriadError, an operation that ended badly, a
database that cannot be reached); 2 bad input (flags, JSON, files, settings); 130 interrupted.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from triadops.cli import (
    agents,
    alerts,
    audit,
    backup,
    crown,
    evidence,
    health,
    login,
    logs,
    maintain,
    mcp,
    ops,
    procedures,
    runbooks,
    serve,
    sops,
    standards,
    tokens,
    troubleshoot,
)
from triadops.cli.clicktypes import Context as ClickContext
from triadops.cli.context import BadInput, describe_validation
from triadops.cli.output import visible
from triadops.cli.placeholders import give_placeholders
from triadops.domain.errors import TriadError


def _fail(message: str, code: int) -> NoReturn:
    """Print one line to stderr and exit with `code`."""
    typer.echo(f"error: {visible(' '.join(message.split()))}", err=True)
    raise typer.Exit(code)


class TriadGroup(TyperGroup):
    """The root group: turns every expected error into one line on stderr, never a traceback.

    Built, it gives every command under it placeholders a person reads (`placeholders`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        give_placeholders(self)

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the command; map errors to a line and an exit code."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
            raise
        except TriadError as exc:
            _fail(exc.message, 1)
        except BadInput as exc:
            _fail(exc.message, 2)
        except ValidationError as exc:
            _fail(describe_validation(exc), 2)
        except SQLAlchemyError as exc:
            _fail(f"database: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except ImportError as exc:
            _fail(f"cannot import {exc.name or exc}: is triadops fully installed?", 1)
        except Exception as exc:  # the edge: a bug still gets one line, not a traceback
            _fail(f"unexpected {type(exc).__name__}: {exc}", 1)


app = typer.Typer(
    cls=TriadGroup,
    name="triad",
    help="Govern changes to running systems through four separated powers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(ops.app, name="ops")
app.add_typer(audit.app, name="audit")
app.add_typer(evidence.app, name="evidence")
app.add_typer(tokens.app, name="token")
app.add_typer(health.app, name="health")
app.add_typer(alerts.alerts_app, name="alerts")
app.add_typer(alerts.silences_app, name="silences")
app.add_typer(agents.app, name="agents")
app.add_typer(procedures.app, name="procedures")
app.add_typer(sops.app, name="sop")
app.add_typer(runbooks.app, name="runbooks")
app.command("troubleshoot")(troubleshoot.troubleshoot_command)
app.add_typer(troubleshoot.incidents, name="incidents")
app.add_typer(maintain.app, name="maintain")
app.add_typer(backup.app, name="backup")
app.add_typer(logs.app, name="logs")
app.add_typer(standards.app, name="standards")
app.command("freeze")(crown.freeze_command)
app.command("unfreeze")(crown.unfreeze_command)
app.command("login")(login.login)
app.command("logout")(login.logout)
app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("mcp")(mcp.mcp_command)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"triad {version('triadops')}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Govern changes to running systems through four separated powers.

    Commands work on the database found from here (a .triad folder, as git finds .git),
    or, with TRIAD_URL and TRIAD_TOKEN set or after triad login, through a server's API.
    """


def main() -> None:
    """Run the ``triad`` command line."""
    sys.exit(app())


if __name__ == "__main__":
    main()
