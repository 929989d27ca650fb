"""``triad login`` and ``triad logout``: keep a server's URL and token for remote mode."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from triadops.cli.context import BadInput, JsonFlag
from triadops.cli.hosts import Target, check_url, forget_login, hosts_file, save_login
from triadops.cli.output import console, emit_json
from triadops.cli.remote import Remote


def login(
    url: Annotated[
        str, typer.Option("--url", metavar="URL", help="The server, e.g. https://triad:8000.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Check a token against a server and keep both (0600): every command then goes there.

    The token is read from stdin when it is piped (``triad login --url URL < token``),
    else asked for without echo; never from a flag, where it would land in shell history.
    """
    address = check_url(url)
    piped = not sys.stdin.isatty()
    token = (sys.stdin.readline() if piped else typer.prompt("token", hide_input=True)).strip()
    if not token:
        raise BadInput("no token given: pipe it on stdin or type it at the prompt")
    target = Target(url=address, token=token)
    client = Remote(target)
    try:
        client.check()
    finally:
        client.close()
    path = save_login(target)
    if as_json:
        emit_json({"url": address, "hosts_file": str(path)})
        return
    console().print(f"logged in to {address}; token kept in {path} (mode 0600)")


def logout(as_json: JsonFlag = False) -> None:
    """Forget the stored server and token; commands work on the local database again."""
    forgot = forget_login()
    if as_json:
        emit_json({"logged_out": forgot, "hosts_file": str(hosts_file())})
        return
    console().print("logged out" if forgot else f"not logged in (no {hosts_file()})")
