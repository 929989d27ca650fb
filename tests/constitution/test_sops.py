"""SOPs as enforced templates: each SOP's refusals, a request that fits, and the gate itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.api import drive
from tests.fixtures.pipeline import BOB, CAROL, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.legislative.approvals import approve_operation
from triadops.constitution.legislative.service import RULES, conclude
from triadops.constitution.lifecycle import Attempt
from triadops.constitution.sops import load_catalogue
from triadops.domain.enums import Authority, OperationStatus, Role
from triadops.domain.errors import Conflict
from triadops.domain.identity import Identity
from triadops.domain.operations import PlanningResult
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.operations import get_operation

EDWARD = Identity(name="edward", roles=frozenset({Role.CROWN}))
PROBE = "system_functionality_maintained"


async def test_a_deployment_without_a_functional_probe_is_rejected_naming_the_sop(
    runtime: Runtime,
) -> None:
    op = await submit(
        runtime, request(operation_type="deployment", validation_criteria=["no_data_loss"])
    )
    assert op.status is OperationStatus.REJECTED
    assert op.status_reason == (
        "SOP-001 deployment needs a functional probe among validation_criteria "
        "(http_probe.* or system_functionality_maintained)"
    )
    assert op.planning_result is not None and not op.planning_result.constitutional_compliance


async def test_a_deployment_that_fits_needs_at_least_the_legislature_then_runs(
    runtime: Runtime,
) -> None:
    op = await submit(runtime, request(operation_type="deployment", validation_criteria=[PROBE]))
    # A noop is low risk: the rules alone would approve it; SOP-001 asks for the legislature.
    assert op.status is OperationStatus.AWAITING_APPROVAL
    assert op.planning_result is not None
    assert op.planning_result.required_approvals == [Authority.LEGISLATIVE]
    assert any("SOP-001" in r for r in op.planning_result.risk_reasons)
    async with runtime.session() as session:
        await approve_operation(
            session,
            runtime.powers,
            operation_id=op.operation_id,
            approver=BOB,
            authority=Authority.LEGISLATIVE,
            plan_hash=op.plan_hash or "",
        )
        await lifecycle.commit(session)
    await drive(runtime)
    assert (await load(runtime, op.operation_id)).status is OperationStatus.COMPLETED


async def test_a_deployment_under_the_crown_is_not_sop_001s(runtime: Runtime) -> None:
    asked = request(
        operation_type="deployment",
        constitutional_authority="crown",
        requested_by="carol",
        validation_criteria=[PROBE],
    )
    op = await submit(runtime, asked, CAROL)
    assert op.status is OperationStatus.REJECTED
    assert op.status_reason == (
        "SOP-001 deployment requires executive or legislative authority for deployment "
        "operations, not crown"
    )


async def test_a_configuration_change_names_what_it_changes_and_how_to_undo_it(
    runtime: Runtime,
) -> None:
    bare = await submit(runtime, request(operation_type="configuration"))
    assert bare.status is OperationStatus.REJECTED
    assert bare.status_reason == (
        "SOP-003 configuration-change needs affected_systems: name what the change touches; "
        "SOP-003 configuration-change needs a rollback_plan: say how to undo the change; "
        "SOP-003 configuration-change needs a functional probe among validation_criteria "
        "(http_probe.* or system_functionality_maintained)"
    )
    fits = await submit(
        runtime,
        request(
            operation_type="configuration",
            affected_systems=["api"],
            rollback_plan="put the previous flag value back",
            validation_criteria=[PROBE],
        ),
    )
    assert fits.status is OperationStatus.AWAITING_APPROVAL
    assert fits.planning_result is not None
    assert fits.planning_result.required_approvals == [Authority.LEGISLATIVE]


async def test_an_emergency_is_the_crowns_and_asks_nothing_more(runtime: Runtime) -> None:
    refused = await submit(runtime, request(operation_type="emergency"))
    assert refused.status is OperationStatus.REJECTED
    assert (
        refused.status_reason is not None and "SOP-002 incident-response" in refused.status_reason
    )
    emergency = request(
        operation_type="emergency", constitutional_authority="crown", requested_by="carol"
    )
    op = await submit(runtime, emergency, CAROL)
    assert op.status is OperationStatus.SCHEDULED


async def test_maintenance_fits_sop_004_as_before(runtime: Runtime) -> None:
    op = await submit(runtime, request())
    assert op.status is OperationStatus.SCHEDULED
    judged = await submit(
        runtime,
        request(constitutional_authority="judicial", requested_by="judy"),
        Identity(name="judy", roles=frozenset({Role.JUDICIAL})),
    )
    assert judged.status_reason == (
        "SOP-004 performance-optimisation requires executive or legislative authority for "
        "maintenance operations, not judicial"
    )


async def test_a_review_cannot_leave_review_without_the_sops_or_with_fewer_approvals(
    runtime: Runtime,
) -> None:
    """The gate holds where the state changes: a caller that skips the SOPs is refused."""
    op = await submit(runtime, request(operation_type="deployment", validation_criteria=[PROBE]))
    async with runtime.session() as session:
        row = await get_operation(session, op.operation_id)
        row.status = OperationStatus.REVIEWING.value  # as a review that is concluding
        fewer = PlanningResult(approved=True, required_approvals=[])
        with pytest.raises(Conflict, match="without the SOPs in force"):
            lifecycle.transition(session, Attempt(row, RULES), OperationStatus.APPROVED)
        with pytest.raises(Conflict, match="SOP-001 deployment needs approval by legislative"):
            conclude(session, row, fewer, actor=RULES, timeout_s=60, sops=runtime.sops)
        await session.rollback()


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


STRICT_004 = """
id = "SOP-004"
name = "performance-optimisation"
title = "Performance optimisation, measured"
authority = "All branches with Crown oversight"
governs = ["maintenance"]
requested_by = ["executive"]
review = true

[[criteria]]
what = "a performance measurement"
any_of = ["performance_within_baseline"]
"""


async def test_a_users_template_replaces_a_shipped_one(settings: Settings) -> None:
    _write(settings.home / "sops", "strict.toml", STRICT_004)
    rt = await Runtime.open(settings, migrate=False)
    try:
        sop = rt.sops.governing(request().operation_type)
        assert sop is not None and sop.source.endswith("strict.toml") and sop.review
        op = await submit(rt, request())
        assert op.status_reason == (
            "SOP-004 performance-optimisation needs a performance measurement among "
            "validation_criteria (performance_within_baseline)"
        )
        assert "sops.SOP-004" in rt.governance()
        assert rt.governance()["sops.SOP-004"] == sop.digest
    finally:
        await rt.close()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("id = [", "not TOML"),
        (STRICT_004.replace("requested_by", "requestd_by"), "(did you mean 'requested_by'?)"),
        (STRICT_004.replace('["executive"]', '["king"]'), "requested_by.0: Input should be"),
        (STRICT_004.replace('id = "SOP-004"', 'id = "SOP-9"'), "id: String should match"),
        (
            STRICT_004.replace('id = "SOP-004"', 'id = "SOP-009"').replace(
                'name = "performance-optimisation"', 'name = "tuning"'
            ),
            "governs: maintenance is governed by SOP-004 and SOP-009",
        ),
        (STRICT_004.replace('"performance_within_baseline"', '"Bad Name"'), "criteria.0.any_of.0"),
        (
            STRICT_004.replace(
                'requested_by = ["executive"]',
                'requested_by = ["executive"]\napprovals = ["judicial"]',
            ),
            "only legislative and crown approve",
        ),
    ],
)
def test_a_bad_template_is_refused_naming_the_file_and_the_key(
    tmp_path: Path, text: str, said: str
) -> None:
    _write(tmp_path / "sops", "mine.toml", text)
    with pytest.raises(Exception) as caught:
        load_catalogue(tmp_path / "sops")
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "sops" / "mine.toml") + ": "), message
    assert said in message, message


def test_two_files_with_one_id_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "sops", "a.toml", STRICT_004)
    _write(tmp_path / "sops", "b.toml", STRICT_004)
    with pytest.raises(Exception, match=r"b\.toml: id: SOP-004 is defined in .*a\.toml too"):
        load_catalogue(tmp_path / "sops")


def test_the_shipped_catalogue_maps_the_seeds_sops_to_their_types() -> None:
    catalogue = load_catalogue(None)
    assert [(e.id, [t.value for t in e.governs], e.review) for e in catalogue.entries] == [
        ("SOP-001", ["deployment"], True),
        ("SOP-002", ["emergency"], True),
        ("SOP-003", ["configuration"], False),
        ("SOP-004", ["maintenance"], False),
    ]
    assert catalogue.get("sop-003").name == "configuration-change"
    assert catalogue.get("deployment").id == "SOP-001"


def test_a_functional_probe_is_any_http_probe_or_the_functionality_check() -> None:
    deployment = load_catalogue(None).get("SOP-001")
    [probe] = deployment.criteria
    assert probe.met_by(["no_data_loss", "http_probe.site"])
    assert probe.met_by([PROBE])
    assert not probe.met_by(["http_probe", "http_probe.", "http_probes.site", "no_data_loss"])
