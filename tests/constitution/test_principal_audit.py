"""``audit verify`` holds every principal row to the ledger's ``principal_created`` entries.

Principals are made through the service (``tokens.create_token``, ``ensure_principal``);
each test then edits the principals table with plain SQL, as someone with write access to
the database would, and names the finding it must produce.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, insert, update

from triadops.constitution import ledger, lifecycle
from triadops.constitution.crown import tokens
from triadops.constitution.ledger import audit
from triadops.domain.enums import Role
from triadops.domain.events import TokenCreated
from triadops.domain.operations import utcnow
from triadops.domain.principals import PrincipalKind
from triadops.runtime import Runtime
from triadops.storage.tables import PrincipalRow, TokenRow


async def principals(rt: Runtime) -> None:
    """A person with a token, a service with a token, and a person with none yet."""
    async with rt.session() as session:
        await tokens.create_token(session, name="alice", roles=[Role.VIEWER], by="carol")
        await tokens.create_token(
            session,
            name="ci-deploy",
            roles=[Role.EXECUTIVE],
            by="carol",
            principal="ci",
            kind=PrincipalKind.SERVICE,
        )
        await tokens.ensure_principal(session, "dora", kind=PrincipalKind.PERSON, by="carol")
        await lifecycle.commit(session)


async def found(rt: Runtime) -> list[str]:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact, report.problem
    return [str(d) for d in report.discrepancies]


async def tamper(rt: Runtime, *statements: Any) -> None:
    async with rt.session() as session:
        for statement in statements:
            await session.execute(statement)
        await session.commit()


async def test_principals_made_by_the_service_verify_clean(runtime: Runtime) -> None:
    await principals(runtime)
    assert await found(runtime) == []


async def test_a_service_passed_off_as_a_person_is_named(runtime: Runtime) -> None:
    await principals(runtime)
    await tamper(
        runtime, update(PrincipalRow).where(PrincipalRow.name == "ci").values(kind="person")
    )

    async with runtime.session(read_only=True) as session:
        report = await audit.verify(session)
    assert [str(d) for d in report.discrepancies] == [
        "principal ci: stored kind person but the ledger made a service"
    ]
    assert (report.discrepancies[0].kind, report.ok) == ("principal", False)


async def test_an_inserted_principal_is_named(runtime: Runtime) -> None:
    await principals(runtime)
    await tamper(
        runtime, insert(PrincipalRow).values(name="mallory", kind="person", created_at=utcnow())
    )

    assert await found(runtime) == [
        "principal mallory: stored but never created in the ledger (inserted)"
    ]


async def test_a_deleted_principal_is_named(runtime: Runtime) -> None:
    await principals(runtime)
    await tamper(runtime, delete(PrincipalRow).where(PrincipalRow.name == "dora"))

    assert await found(runtime) == ["principal dora: in the ledger but not stored (deleted)"]


async def test_a_principal_from_before_the_ledger_recorded_them_is_held_to_the_migration(
    runtime: Runtime,
) -> None:
    # The principals migration made a person for each existing token, with no entry; the
    # token's own entry, written before principals, does not say to whom it was issued.
    async with runtime.session() as session:
        session.add(PrincipalRow(name="old-ci", kind="person", created_at=utcnow()))
        session.add(
            TokenRow(
                name="old-ci",
                principal="old-ci",
                token_hash=hashlib.sha256(b"triad_old").hexdigest(),
                roles=["viewer"],
                created_at=utcnow(),
            )
        )
        ledger.record(
            session, TokenCreated.model_construct(name="old-ci", roles=["viewer"]), actor="cli"
        )
        await lifecycle.commit(session)
    assert await found(runtime) == []

    await tamper(
        runtime, update(PrincipalRow).where(PrincipalRow.name == "old-ci").values(kind="agent")
    )
    assert await found(runtime) == [
        "principal old-ci: stored kind agent but the principals migration made a person"
    ]
