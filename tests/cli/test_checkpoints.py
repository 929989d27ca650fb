"""``triad audit keygen``, ``checkpoint`` and ``verify`` against a tampered database."""

from __future__ import annotations

import asyncio
import base64
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text, update
from typer.testing import Result

from tests.cli.conftest import Triad, data, one_error_line
from triadops.constitution.ledger import checkpoints
from triadops.domain.chain import link_hash
from triadops.storage import ledger as store
from triadops.storage.engine import create_engine, session_factory
from triadops.storage.tables import LedgerHeadRow, LedgerRow


def private_key_texts(key_file: Path) -> list[str]:
    """Every spelling of the private key that must never be printed: PEM lines and raw base64."""
    pem = key_file.read_bytes()
    key = checkpoints.parse_private_key(pem, source="test")
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    body = [line for line in pem.decode().splitlines() if not line.startswith("-----")]
    return [*body, base64.b64encode(raw).decode()]


def printed(*results: Result) -> str:
    return "\n".join(r.stdout + r.stderr for r in results)


def truncate(database_url: str, cut: int) -> None:
    """The attacker: delete the tail and move the head back onto entry `cut`."""

    async def work() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger WHERE seq > :cut"), {"cut": cut})
            await conn.execute(
                text(
                    "UPDATE ledger_head SET seq = :cut, "
                    "hash = (SELECT hash FROM ledger WHERE seq = :cut)"
                ),
                {"cut": cut},
            )
        await engine.dispose()

    asyncio.run(work())


def rewrite(database_url: str, victim: int) -> None:
    """The attacker: edit entry `victim` and recompute every later hash and the head."""

    async def work() -> None:
        engine = create_engine(database_url)
        async with session_factory(engine)() as session:
            stmt = select(LedgerRow).where(LedgerRow.seq >= victim).order_by(LedgerRow.seq)
            rows = (await session.execute(stmt)).scalars().all()
            rows[0].details = {**rows[0].details, "forged": True}
            prev = rows[0].prev_hash
            for row in rows:
                row.prev_hash = prev
                row.hash = prev = link_hash(prev, store.entry_body(row))
            await session.execute(update(LedgerHeadRow).values(seq=rows[-1].seq, hash=prev))
            await session.commit()
        await engine.dispose()

    asyncio.run(work())


def keygen(triad: Triad, key_file: Path) -> dict[str, Any]:
    made: dict[str, Any] = data(triad("audit", "keygen", "--out", str(key_file), "--json"))
    return made


def test_checkpoint_then_a_truncated_tail_fails_verify(
    triad: Triad, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "keys" / "checkpoint.pem"
    shown = triad("audit", "keygen", "--out", str(key_file))
    assert shown.exit_code == 0, shown.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = checkpoints.parse_private_key(key_file.read_bytes(), source="test").public_key()
    key_id = checkpoints.public_key_id(public)
    assert shown.stdout.splitlines() == [
        f"key id: {key_id}",
        f"public key: {checkpoints.public_key_text(public)}",
    ]
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY_FILE", str(key_file))
    for _ in range(2):
        triad("ops", "submit", "--step", "noop", "--wait")

    signed = triad("audit", "checkpoint")
    assert signed.exit_code == 0, signed.output
    assert signed.stdout.splitlines()[0].startswith("checkpoint 21 at ")
    assert f"key id: {key_id}" in signed.stdout.splitlines()
    head = data(triad("audit", "checkpoint", "--json"))
    # Entry 22 records the first checkpoint, so the second covers it.
    assert (head["seq"], head["key_id"]) == (22, key_id) and len(head["hash"]) == 64
    ok = triad("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines() == [
        "ledger intact: 23 entries checked",
        "checkpoints consistent: 2 checked against the ledger",
    ]

    truncate(database_url, cut=13)

    broken = triad("audit", "verify")
    assert broken.exit_code == 1
    lines = broken.stdout.splitlines()
    assert lines[0] == "ledger intact: 13 entries checked", "the chain alone is fooled"
    assert lines[1] == "checkpoints broken: 3 finding(s)"
    assert lines[2].startswith("  - ledger truncated below checkpoint 21 (at ")
    assert lines[2].endswith("log line 1): entry 21 is missing")
    assert lines[3].startswith("  - ledger truncated below checkpoint 22 (at ")
    assert lines[4].startswith("  - ledger head 13 is below checkpoint 22 (at ")
    report = data(triad("audit", "verify", "--json"), exit_code=1)
    assert report["ok"] is False and report["entries_checked"] == 13
    assert report["checkpoints"]["checked"] is True
    assert report["checkpoints"]["count"] == 2
    assert [p[:37] for p in report["checkpoints"]["problems"]] == [
        "ledger truncated below checkpoint 21 ",
        "ledger truncated below checkpoint 22 ",
        "ledger head 13 is below checkpoint 22",
    ]
    refused = triad("audit", "checkpoint")
    assert "the ledger head 13 is below the last checkpoint 22" in one_error_line(refused)
    for secret in private_key_texts(key_file):
        assert secret not in printed(shown, signed, ok, broken, refused)


def test_a_verifier_with_only_the_public_key_finds_a_recomputed_rewrite(
    triad: Triad, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "checkpoint.pem"
    made = keygen(triad, key_file)
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY_FILE", str(key_file))
    triad("ops", "submit", "--step", "noop", "--wait")
    signed = data(triad("audit", "checkpoint", "--json"))
    triad("ops", "submit", "--step", "noop", "--wait")
    # The verifier: another machine with the log and the public key, never the private one.
    public_file = tmp_path / "checkpoint.pub"
    public_file.write_text(made["public_key"] + "\n")
    monkeypatch.delenv("TRIAD_CHECKPOINT_KEY_FILE")
    monkeypatch.setenv("TRIAD_CHECKPOINT_PUBLIC_KEY_FILE", str(public_file))
    assert triad("audit", "verify").exit_code == 0

    rewrite(database_url, victim=4)

    result = triad("audit", "verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "ledger intact: 22 entries checked", "the rewrite is self-consistent"
    assert lines[2].startswith(
        f"  - entry {signed['seq']} was rewritten since the checkpoint at "
        f"{signed['at'].replace('Z', '+00:00')} (checkpoint {signed['seq']}, log line 1): "
    )
    assert "no checkpoint key" in one_error_line(triad("audit", "checkpoint"))


def test_keygen_never_overwrites_a_key(triad: Triad, tmp_path: Path) -> None:
    key_file = tmp_path / "checkpoint.pem"
    keygen(triad, key_file)
    before = key_file.read_bytes()

    again = triad("audit", "keygen", "--out", str(key_file))

    assert again.exit_code == 1
    assert "already exists: a key file is never overwritten" in one_error_line(again)
    assert key_file.read_bytes() == before


def test_checkpoint_without_a_key_is_one_error_line(triad: Triad) -> None:
    result = triad("audit", "checkpoint")

    assert result.exit_code == 2
    assert "no checkpoint key: set TRIAD_CHECKPOINT_KEY_FILE" in one_error_line(result)


def test_verify_says_when_checkpoints_were_not_checked(
    triad: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    triad("ops", "submit", "--step", "noop", "--wait")

    no_key = triad("audit", "verify")
    assert no_key.exit_code == 0, no_key.output
    assert no_key.stdout.splitlines()[1].startswith(
        "checkpoints not checked: no checkpoint key configured"
    )
    assert data(triad("audit", "verify", "--json"))["checkpoints"] == {
        "checked": False,
        "count": 0,
        "problems": [],
        "reason": "no checkpoint key configured (checkpoint_public_key_file, "
        "checkpoint_key_file or checkpoint_key)",
    }
    keygen(triad, tmp_path / "checkpoint.pem")
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY_FILE", str(tmp_path / "checkpoint.pem"))
    no_log = triad("audit", "verify")
    assert no_log.exit_code == 1, "with a key, a log never written is no pass"
    assert no_log.stdout.splitlines()[1] == "checkpoints broken: 1 finding(s)"
    assert data(triad("audit", "verify", "--json"), exit_code=1)["checkpoints"]["problems"] == [
        f"checkpoint log {tmp_path / 'home' / 'checkpoints.jsonl'} is missing: required with a "
        "checkpoint key; none written yet (triad audit checkpoint, or a worker, writes one)"
    ]


def test_a_key_in_the_environment_never_reaches_the_output(
    triad: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "checkpoint.pem"
    keygen(triad, key_file)
    secrets = private_key_texts(key_file)
    raw = secrets[-1]
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY", raw)
    triad("ops", "submit", "--step", "noop", "--wait")

    results = [
        triad("audit", "checkpoint"),
        triad("audit", "checkpoint", "--json"),
        triad("audit", "verify"),
        triad("audit", "verify", "--json"),
    ]
    assert [r.exit_code for r in results] == [0, 0, 0, 0], printed(*results)
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY", raw[:-4] + "AAA=")  # 32 bytes, wrong key
    results.append(triad("audit", "verify"))
    assert results[-1].exit_code == 1
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY", raw[:-8])  # not a key at all
    results.append(triad("audit", "checkpoint"))
    assert "checkpoint_key (TRIAD_CHECKPOINT_KEY): not a private key" in one_error_line(results[-1])
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY_FILE", str(key_file))
    results.append(triad("audit", "verify"))
    assert "not both" in one_error_line(results[-1])

    for secret in [*secrets, raw[:-4] + "AAA=", raw[:-8]]:
        assert secret not in printed(*results)


def signing(triad: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Configure a checkpoint key and a log on another disk; return the log's path."""
    keygen(triad, tmp_path / "checkpoint.pem")
    monkeypatch.setenv("TRIAD_CHECKPOINT_KEY_FILE", str(tmp_path / "checkpoint.pem"))
    log = tmp_path / "elsewhere" / "checkpoints.jsonl"
    monkeypatch.setenv("TRIAD_CHECKPOINT_LOG", str(log))
    return log


@pytest.mark.parametrize("attack", ["deleted", "emptied"])
def test_a_deleted_or_emptied_log_fails_verify(
    triad: Triad, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attack: str
) -> None:
    log = signing(triad, tmp_path, monkeypatch)
    triad("ops", "submit", "--step", "noop", "--wait")
    assert data(triad("audit", "checkpoint", "--json"))["seq"] == 11
    triad("ops", "submit", "--step", "noop", "--wait")
    assert triad("audit", "verify").exit_code == 0
    # The attacker rewrites the ledger past the checkpoint, then gets rid of the log.
    rewrite(database_url, victim=4)
    if attack == "deleted":
        log.unlink()
    else:
        log.write_text("")

    result = triad("audit", "verify")

    assert result.exit_code == 1
    assert result.stdout.splitlines()[1] == "checkpoints broken: 1 finding(s)"
    report = data(triad("audit", "verify", "--json"), exit_code=1)
    assert report["ok"] is False and report["checkpoints"]["checked"] is True
    assert report["checkpoints"]["problems"] == [
        f"checkpoint log {log} is {'missing' if attack == 'deleted' else 'empty'}: required "
        "with a checkpoint key; the ledger records 1 checkpoint(s), the newest 11"
    ]


def test_a_log_cut_short_of_a_recorded_checkpoint_names_the_missing_seq(
    triad: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = signing(triad, tmp_path, monkeypatch)
    signed = []
    for _ in range(3):
        triad("ops", "submit", "--step", "noop", "--wait")
        signed.append(data(triad("audit", "checkpoint", "--json"))["seq"])
    assert signed == [11, 22, 33]
    assert triad("audit", "verify").exit_code == 0
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n")  # the newest line cut off

    result = triad("audit", "verify")

    assert result.exit_code == 1
    assert result.stdout.splitlines()[1] == "checkpoints broken: 1 finding(s)"
    assert data(triad("audit", "verify", "--json"), exit_code=1)["checkpoints"]["problems"] == [
        f"checkpoint 33 is recorded in the ledger (entry 34) but missing from the log {log}: "
        "the log was cut or edited"
    ]
