"""``triad token``: issue, list and revoke API bearer tokens."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from triadops.cli.context import AsName, JsonFlag, choice, local_identity, run
from triadops.cli.output import console, emit_json, render_tokens
from triadops.constitution import lifecycle
from triadops.constitution.crown import tokens
from triadops.domain.enums import Role
from triadops.domain.principals import PrincipalKind
from triadops.runtime import Runtime
from triadops.storage.tables import TokenRow

app = typer.Typer(
    help="Issue, list and revoke API tokens (where the database is, never remotely).",
    no_args_is_help=True,
)

LOCAL_ONLY = "tokens are administered where the database is, never through a token"
"""Why ``triad token`` has no API: a stolen token must not be able to mint, list or revoke
others; as ``gh`` takes tokens and never issues them, the server's operator issues them."""


def _public(row: TokenRow) -> dict[str, Any]:
    """What may be shown of a token: never its secret or its hash."""
    return {
        "name": row.name,
        "principal": row.principal,
        "roles": list(row.roles),
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "revoked_at": row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else None,
    }


@app.command()
def create(
    name: Annotated[str, typer.Option(help="A unique name for the token.")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role",
            metavar="ROLE",
            help="A role, repeatable: " + ", ".join(r.value for r in Role) + ".",
        ),
    ],
    principal: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Who the token belongs to (default: the token's name). Give every token "
            "of one person the same principal: separation of duties counts principals. A new "
            "principal may not read as triadops' own (legislative*, executive*, judicial*, "
            "crown*, triad*, system*, the-crown, root, admin, worker, monitor, *@local) nor "
            "look like an existing one (a1ice beside alice).",
        ),
    ] = None,
    kind: Annotated[
        str,
        typer.Option(help=", ".join(k.value for k in PrincipalKind) + "."),
    ] = "person",
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Issue a token to a principal; its secret is shown now and never again."""
    by = local_identity(as_name)
    roles = [choice(Role, value, "--role") for value in role]
    principal_kind = choice(PrincipalKind, kind, "--kind")

    async def work(rt: Runtime) -> tuple[dict[str, Any], str]:
        async with rt.session() as session:
            row, secret = await tokens.create_token(
                session,
                name=name,
                roles=roles,
                by=by.name,
                principal=principal,
                kind=principal_kind,
            )
            await lifecycle.commit(session)
            return _public(row), secret

    public, secret = run(work, creates=True, local_only=LOCAL_ONLY)
    warning = "store this token now: it will not be shown again"
    if as_json:
        emit_json({**public, "token": secret})
        console(stderr=True).print(f"warning: {warning}")
        return
    console().print(
        f"token {public['name']} of {public['principal']} ({', '.join(public['roles'])}):"
    )
    console().print(secret)
    console(stderr=True).print(f"warning: {warning}")


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List tokens: name, roles, created, revoked (never the secret)."""

    async def work(rt: Runtime) -> list[dict[str, Any]]:
        async with rt.session(read_only=True) as session:
            return [_public(row) for row in await tokens.list_tokens(session)]

    rows = run(work, local_only=LOCAL_ONLY)
    if as_json:
        emit_json(rows)
    else:
        render_tokens(rows)


@app.command()
def revoke(name: str, as_json: JsonFlag = False, as_name: AsName = None) -> None:
    """Revoke a token by name; it stops working at once."""
    by = local_identity(as_name)

    async def work(rt: Runtime) -> None:
        async with rt.session() as session:
            await tokens.revoke_token(session, name=name, by=by.name)
            await lifecycle.commit(session)

    run(work, local_only=LOCAL_ONLY)
    if as_json:
        emit_json({"name": name, "revoked": True})
        return
    console().print(f"token {name} revoked")
