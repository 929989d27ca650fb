"""``GET /operations/{id}/evidence``: a viewer's read of a bundle that verifies offline.

The server holds the checkpoint key and publishes each signed head to a file, so the
crown's ``POST /audit/checkpoint`` is seen reaching outside as well.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.fixtures.api import Api, drive, high_risk_request
from triadops.constitution.ledger import checkpoints
from triadops.constitution.ledger.evidence import export_evidence
from triadops.constitution.ledger.evidence_check import check_bundle
from triadops.domain.checkpoints import Checkpoint, iso_utc
from triadops.domain.evidence import SUMMARY_HEADER, EvidenceBundle
from triadops.runtime import Runtime
from triadops.settings import Settings

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def published(tmp_path: Path) -> Path:
    return tmp_path / "outside" / "heads.jsonl"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, published: Path) -> Settings:
    """The server's settings: a checkpoint key, and heads published to a file."""
    home = tmp_path / "home"
    home.mkdir()
    return Settings(
        home=home,
        database_url=database_url,
        monitor=False,
        checkpoint_key=SecretStr(KEY),
        checkpoint_publish_to=f"file://{published}",
    )


async def test_a_viewer_reads_a_bundle_that_verifies_with_the_public_key(
    api: Api, rt: Runtime, published: Path
) -> None:
    op = await api.submit(high_risk_request())
    operation_id = op["operation_id"]
    assert (await api.approve(operation_id, as_="bob")).status_code == 200
    await drive(rt)
    early = await api.get(f"/operations/{operation_id}/evidence")
    assert early.status_code == 409, early.text
    assert "no signed checkpoint covers entry" in early.json()["detail"]
    signed = await api.post("/audit/checkpoint", as_="carol")
    assert signed.status_code == 200, signed.text

    answer = await api.get(f"/operations/{operation_id}/evidence", as_="viewer")

    assert answer.status_code == 200, answer.text
    bundle = EvidenceBundle.model_validate(answer.json())
    public = checkpoints.parse_private_key(KEY.encode(), source="test").public_key()
    report = check_bundle(bundle, public)
    assert report.ok, report.findings
    assert [a.approver for a in bundle.operation.approvals] == ["bob"]
    assert bundle.operation.status.value == "completed"
    [head] = [Checkpoint.model_validate_json(line) for line in published.read_text().splitlines()]
    assert head == bundle.checkpoint, "the crown's checkpoint was published outside too"
    # Streamed, small fields first: the bundle a whole export makes, and its summary.
    assert answer.headers["content-type"] == "application/json"
    assert answer.text.index('"checkpoint"') < answer.text.index('"entries"')
    async with rt.session(read_only=True) as session:
        whole = await export_evidence(
            session,
            operation_id=operation_id,
            log_path=rt.settings.resolved_checkpoint_log,
            public_key=public,
        )
    assert bundle.model_copy(update={"exported_at": None}) == whole.model_copy(
        update={"exported_at": None}
    )
    assert json.loads(answer.headers[SUMMARY_HEADER]) == {
        "operation_id": operation_id,
        "status": "completed",
        "first_seq": whole.entries[0].seq,
        "checkpoint_seq": whole.checkpoint.seq,
        "entries": len(whole.entries),
        "key_id": whole.checkpoint.key_id,
        "signed_at": iso_utc(whole.checkpoint.at),
    }


async def test_no_token_unknown_ids_and_bad_ids_are_refused(api: Api) -> None:
    assert (await api.client.get("/operations/op-x/evidence")).status_code == 401
    unknown = await api.get("/operations/op-nosuch/evidence")
    assert unknown.status_code == 404, unknown.text
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "op-nosuch" in unknown.json()["detail"]
    assert (await api.get("/operations/bad%20id/evidence")).status_code == 422
