"""New principals are unmistakable: no name that passes for another person or for triadops.

Each refused name is one from the audit: punctuation that makes a second ``alice``, a digit
for a letter, a branch's or the system's name, the local operator's. Principals that an older
release let in keep working; only creating such a name is refused.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.fixtures.api import Api
from triadops.constitution import lifecycle
from triadops.constitution.crown import tokens
from triadops.domain.enums import Role
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import utcnow
from triadops.domain.principals import new_principal_problem, skeleton
from triadops.runtime import Runtime
from triadops.storage.tables import LedgerHeadRow, PrincipalRow, TokenRow

LOOKALIKES = {
    "alice.": "cannot be a new",
    "alice-": "cannot be a new",
    "-alice": "is not a principal's name",  # refused before this round too
    "al..ice": "cannot be a new",
    "a1ice": "looks like the existing principal 'alice' (confusable)",
    "al1ce": None,  # i for 1 is no confusable: shown lower case, 'al1ce' reads as it is
    "alic3": None,
    "a.lice": "looks like the existing principal 'alice' (confusable)",
    "a_lice": "looks like the existing principal 'alice' (confusable)",
}
SYSTEM = [
    "legislative-rules",
    "the-crown",
    "the_crown",
    "triad-monitor",
    "triadops",
    "crown-office",
    "executive",
    "judicial.bot",
    "system",
    "monitor",
    "rnonitor",
    "worker",
    "root",
    "r00t",
    "admin",
    "adrnin",
]


async def ledger_head(rt: Runtime) -> int:
    async with rt.session() as session:
        seq = await session.scalar(select(LedgerHeadRow.seq))
        assert seq is not None
        return seq


async def issue(rt: Runtime, name: str, principal: str | None = None) -> None:
    async with rt.session() as session:
        await tokens.create_token(
            session, name=name, roles=[Role.VIEWER], by="carol", principal=principal
        )
        await lifecycle.commit(session)


@pytest.mark.parametrize("field", ["name", "principal"])
async def test_names_that_pass_for_another_are_refused_naming_the_field(
    runtime: Runtime, field: str
) -> None:
    await issue(runtime, "alice")
    before = await ledger_head(runtime)

    for name, problem in LOOKALIKES.items():
        given = {"name": name} if field == "name" else {"name": "t1", "principal": name}
        if problem is None:
            continue
        async with runtime.session() as session:
            with pytest.raises(InvalidRequest) as refused:
                await tokens.create_token(session, roles=[Role.VIEWER], by="carol", **given)
        assert refused.value.field == field, name
        assert refused.value.message.startswith(f"{field}: {name!r}"), refused.value.message
        assert problem in refused.value.message, (name, refused.value.message)
    for name in SYSTEM:
        given = {"name": name} if field == "name" else {"name": "t1", "principal": name}
        async with runtime.session() as session:
            with pytest.raises(InvalidRequest, match=f"^{field}: '{name}' is reserved"):
                await tokens.create_token(session, roles=[Role.VIEWER], by="carol", **given)

    assert await ledger_head(runtime) == before, "a refusal changes nothing"
    async with runtime.session() as session:
        assert await session.scalar(select(func.count()).select_from(PrincipalRow)) == 1


async def test_names_that_differ_only_where_nobody_looks_are_fine(runtime: Runtime) -> None:
    await issue(runtime, "alice")
    await issue(runtime, "al1ce")
    await issue(runtime, "alice-laptop", principal="Alice ")  # the same person: no new name
    await issue(runtime, "bob-crown", principal="bob")

    async with runtime.session() as session:
        principals = (await session.execute(select(PrincipalRow.name))).scalars().all()
    assert sorted(principals) == ["al1ce", "alice", "bob"]


async def test_a_principal_an_older_release_let_in_keeps_working(
    runtime: Runtime, api: Api
) -> None:
    # A database from before the reserved names: a person called root, with a token.
    async with runtime.session() as session:
        session.add(PrincipalRow(name="root", kind="person", created_at=utcnow()))
        await lifecycle.commit(session)
    async with runtime.session() as session:
        _, secret = await tokens.create_token(
            session, name="root-laptop", roles=[Role.VIEWER], by="carol", principal="root"
        )
        await lifecycle.commit(session)
        identity = await tokens.authenticate(session, secret)
    assert identity.name == "root"
    api.tokens["root-laptop"] = secret
    assert (await api.get("/operations", as_="root-laptop")).status_code == 200
    async with runtime.session() as session:
        owner = await session.scalar(
            select(TokenRow.principal).where(TokenRow.name == "root-laptop")
        )
    assert owner == "root"


def test_the_skeleton_folds_what_reads_alike() -> None:
    assert skeleton("a1ice") == skeleton("alice") == skeleton("a.lice")
    assert skeleton("rnallory") == skeleton("mallory")
    assert skeleton("b0b") == skeleton("bob")
    assert new_principal_problem("ops@local") == (
        "'ops@local' is reserved: names ending in @local are local CLI operators"
    )
    assert new_principal_problem("dora", ["d0ra"]) == (
        "'dora' looks like the existing principal 'd0ra' (confusable)"
    )
