"""``triad evidence``: export a bundle from the database, verify it with the public key alone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Triad, data, one_error_line
from triadops.cli.context import BadInput
from triadops.cli.evidence import _write
from triadops.constitution.ledger.evidence import EvidenceExport
from triadops.domain.errors import TriadError


@pytest.fixture
def keys(triad: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkpoint key for the database's side; return the file of its public half."""
    key_file = tmp_path / "keys" / "checkpoint.pem"
    made = data(triad("audit", "keygen", "--out", str(key_file), "--json"))
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY_FILE", str(key_file))
    public = tmp_path / "auditor" / "checkpoint.pub"
    public.parent.mkdir()
    public.write_text(made["public_key"] + "\n")
    return public


def completed(triad: Triad, operation_id: str) -> None:
    submitted = triad("ops", "submit", "--step", "noop", "--id", operation_id, "--wait")
    assert submitted.exit_code == 0, submitted.output


def test_export_then_verify_offline_then_a_tampered_copy_fails(
    triad: Triad, keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    completed(triad, "op-e")
    assert triad("audit", "checkpoint").exit_code == 0
    bundle = tmp_path / "op-e.json"

    exported = triad("evidence", "op-e", "--out", str(bundle))

    assert exported.exit_code == 0, exported.output
    lines = exported.stdout.splitlines()
    assert lines[0] == f"evidence of op-e (completed) written to {bundle}"
    # Entry 1 is the governance the first process recorded; op-e's are 2 to 11.
    assert lines[1].startswith("entries 2 to 11 (10), up to checkpoint 11 signed at ")
    # The auditor: no database, no server, no private key; only the file and the public key.
    monkeypatch.setenv("TRIAD_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    monkeypatch.delenv("TRIAD_CHECKPOINT_KEY_FILE")
    verified = triad("evidence", "verify", str(bundle), "--public-key", str(keys))
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.splitlines()[0] == f"evidence of op-e verified ({bundle})"
    assert verified.stdout.splitlines()[2] == "the record (completed) agrees with its 10 entries"
    report = data(triad("evidence", "verify", str(bundle), "--public-key", str(keys), "--json"))
    assert report["ok"] is True and report["entries_checked"] == 10

    document: dict[str, Any] = json.loads(bundle.read_text())
    document["entries"][3]["details"]["forged"] = True
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    failed = triad("evidence", "verify", str(tampered), "--public-key", str(keys))
    assert failed.exit_code == 1
    assert failed.stdout.splitlines() == [
        f"evidence of op-e does not verify: 1 finding(s) ({tampered})",
        f"  - entry_edited: entry 5 ({document['entries'][3]['event']}): its content does not "
        "match its hash (edited)",
    ]


def test_export_with_json_says_what_it_wrote(triad: Triad, keys: Path, tmp_path: Path) -> None:
    completed(triad, "op-j")
    triad("audit", "checkpoint")
    bundle = tmp_path / "b.json"

    said = data(triad("evidence", "export", "op-j", "--out", str(bundle), "--json"))

    assert said == {
        "file": str(bundle),
        "operation_id": "op-j",
        "status": "completed",
        "first_seq": 2,
        "checkpoint_seq": 11,
        "entries": 10,
        "key_id": json.loads(bundle.read_text())["checkpoint"]["key_id"],
    }


def test_bad_input_is_one_line_and_a_non_zero_exit(
    triad: Triad, keys: Path, tmp_path: Path
) -> None:
    completed(triad, "op-b")
    triad("audit", "checkpoint")
    bundle = tmp_path / "b.json"
    assert triad("evidence", "op-b", "--out", str(bundle)).exit_code == 0
    not_json = tmp_path / "notes.txt"
    not_json.write_text("hello\n")
    other_json = tmp_path / "other.json"
    other_json.write_text('{"seq": 1}')

    said = {
        "unknown operation": one_error_line(
            triad("evidence", "op-nosuch", "--out", str(tmp_path / "x.json"))
        ),
        "existing file": one_error_line(triad("evidence", "op-b", "--out", str(bundle))),
        "missing bundle": one_error_line(
            triad("evidence", "verify", str(tmp_path / "none.json"), "--public-key", str(keys))
        ),
        "not JSON": one_error_line(
            triad("evidence", "verify", str(not_json), "--public-key", str(keys))
        ),
        "not a bundle": one_error_line(
            triad("evidence", "verify", str(other_json), "--public-key", str(keys))
        ),
        "not a key": one_error_line(
            triad("evidence", "verify", str(bundle), "--public-key", str(not_json))
        ),
    }

    assert "op-nosuch" in said["unknown operation"]
    assert said["existing file"].endswith("already exists: a bundle is never overwritten")
    assert said["missing bundle"].startswith("error: cannot read the bundle ")
    assert said["not JSON"].startswith(f"error: {not_json}: not an evidence bundle (")
    assert said["not a bundle"].startswith(f"error: {other_json}: not an evidence bundle (")
    assert said["not a key"].startswith(f"error: {not_json}: not a public key")
    assert not (tmp_path / "x.json").exists()


def test_export_before_any_checkpoint_covers_the_operation_says_how_to_get_one(
    triad: Triad, keys: Path, tmp_path: Path
) -> None:
    triad("audit", "checkpoint")
    completed(triad, "op-late")

    refused = triad("evidence", "op-late", "--out", str(tmp_path / "late.json"))

    assert refused.exit_code == 1
    assert "no signed checkpoint covers entry 12, the operation's last" in one_error_line(refused)
    assert "run triad audit checkpoint" in one_error_line(refused)
    assert not (tmp_path / "late.json").exists()


def test_export_without_a_checkpoint_key_is_bad_input(triad: Triad, tmp_path: Path) -> None:
    completed(triad, "op-k")

    refused = triad("evidence", "op-k", "--out", str(tmp_path / "k.json"))

    assert refused.exit_code == 2
    assert "no checkpoint key is configured" in one_error_line(refused)


def test_a_failure_mid_stream_leaves_no_file_under_the_final_name(
    triad: Triad, keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    completed(triad, "op-f")
    triad("audit", "checkpoint")
    out = tmp_path / "out"
    out.mkdir()
    bundle = out / "f.json"
    whole = EvidenceExport.chunks

    async def broken(self: EvidenceExport, session: Any, **kw: Any) -> AsyncIterator[bytes]:
        async for chunk in whole(self, session, batch=2):
            yield chunk
            if self.written:
                raise TriadError("the database went away")

    monkeypatch.setattr(EvidenceExport, "chunks", broken)
    failed = triad("evidence", "op-f", "--out", str(bundle))

    assert failed.exit_code == 1
    assert one_error_line(failed) == "error: the database went away"
    assert list(out.iterdir()) == [], "neither the bundle nor its temporary file"
    monkeypatch.setattr(EvidenceExport, "chunks", whole)
    assert triad("evidence", "op-f", "--out", str(bundle)).exit_code == 0, "the name is free"
    assert json.loads(bundle.read_text())["operation_id"] == "op-f"


def test_a_stream_that_breaks_or_stops_short_is_never_named(tmp_path: Path) -> None:
    """What the remote export does with the server's body: the same temporary name."""
    target = tmp_path / "r.json"

    def breaks() -> Iterator[bytes]:
        yield b'{"format": "triadops-evidence-v1", "entries": [\n'
        raise TriadError("cannot reach the server: peer closed connection")

    with pytest.raises(TriadError, match="peer closed"):
        _write(target, breaks())
    with pytest.raises(TriadError, match="ended before it was complete"):
        _write(target, iter([b'{"entries": [\n{"seq": 1}']))
    assert list(tmp_path.iterdir()) == []
    _write(target, iter([b'{"entries": [', b"]}\n"]))
    assert json.loads(target.read_text()) == {"entries": []}
    with pytest.raises(BadInput, match="already exists"):
        _write(target, iter([b'{"entries": []}']))
    assert list(tmp_path.iterdir()) == [target]
