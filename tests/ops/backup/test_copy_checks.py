"""What a recovery test checks on a restored copy beyond its rows, on real databases.

- pg_amcheck runs on PostgreSQL's scratch copy and is recorded; absent, "not installed";
- smoke queries: refused at load unless one read-only SELECT for a configured target; on
  the copy, one that errs, answers otherwise or outruns its timeout fails the test naming it;
- triad's own copy passes its signed checkpoints; a tampered signature, or a checkpointed
  entry rewritten in the backup, fails it.
"""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.actions.conftest import action_context
from tests.fixtures.pipeline import request, submit
from triadops.actions.backup import BackupIdParams, BackupParams, DatabaseBackupAction
from triadops.actions.base import ActionContext
from triadops.actions.pg_amcheck import find_amcheck
from triadops.constitution import lifecycle
from triadops.constitution.ledger import checkpoints
from triadops.domain.checkpoints import Checkpoint
from triadops.domain.errors import ActionFailed
from triadops.ops.backup.copy_checks import unexpected
from triadops.ops.backup.recovery import RestoreTestAction
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.settings.backups import BackupSettings
from triadops.settings.smoke_queries import SmokeQuery

POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def with_backups(runtime: Runtime, **backups: Any) -> ActionContext:
    settings = runtime.settings.model_copy(update={"backups": BackupSettings(**backups)})
    return action_context(settings, runtime.databases)


async def restore_tested(ctx: ActionContext, runtime: Runtime) -> dict[str, Any]:
    await submit(runtime, request())  # a ledger with entries and an operation
    made = await DatabaseBackupAction().run(ctx, BackupParams())
    done = await RestoreTestAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))
    return dict(done)


@POSTGRES
async def test_pg_amcheck_runs_on_the_scratch_copy_and_is_recorded(runtime: Runtime) -> None:
    done = await restore_tested(with_backups(runtime), runtime)
    assert "pg_amcheck --heapallindexed: ok" in done["checks"]


@POSTGRES
async def test_pg_amcheck_absent_is_recorded_not_failed(runtime: Runtime, tmp_path: Path) -> None:
    tools = tmp_path / "bin"  # pg_dump and pg_restore, no pg_amcheck
    tools.mkdir()
    for name in ("pg_dump", "pg_restore"):
        found = shutil.which(name)
        assert found is not None
        os.symlink(found, tools / name)
    done = await restore_tested(with_backups(runtime, pg_bin=tools), runtime)
    assert "pg_amcheck: not installed" in done["checks"] and done["passed"] is True


def test_pg_amcheck_is_found_in_the_servers_debian_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))  # PATH comes first
    for major in ("14", "15", "16"):
        (tmp_path / major / "bin").mkdir(parents=True)
    tool = tmp_path / "16" / "bin" / "pg_amcheck"
    tool.touch()
    settings = Settings(home=tmp_path, backups=BackupSettings(pg_bin=None))
    assert find_amcheck(settings, 15, debian=tmp_path) == str(tool)
    (tmp_path / "15" / "bin" / "pg_amcheck").touch()
    assert find_amcheck(settings, 15, debian=tmp_path) == str(tmp_path / "15/bin/pg_amcheck")
    assert find_amcheck(settings, 17, debian=tmp_path) is None
    empty = Settings(home=tmp_path, backups=BackupSettings(pg_bin=tmp_path / "14" / "bin"))
    assert find_amcheck(empty, 15, debian=tmp_path) is None


def smoke(**query: Any) -> dict[str, Any]:
    return {"target": "triad", "name": "operations_kept", **query}


async def test_smoke_queries_pass_and_are_recorded(runtime: Runtime) -> None:
    queries = [
        smoke(sql="SELECT count(*) FROM operations", expect_min_value=1),
        smoke(name="ledger_rows", sql="SELECT seq FROM ledger", expect_min_rows=1),
    ]
    done = await restore_tested(with_backups(runtime, smoke_queries=queries), runtime)
    assert "smoke query operations_kept: ok (1 rows)" in done["checks"]
    assert any(str(c).startswith("smoke query ledger_rows: ok") for c in done["checks"])


@pytest.mark.parametrize(
    ("query", "said"),
    [
        (
            smoke(sql="SELECT count(*) FROM ledger", expect_min_value=10**9),
            "expected at least 1e+09",
        ),
        (smoke(sql="SELECT 'x'", expect_value="y"), "answered 'x', expected 'y'"),
        (smoke(sql="SELECT seq FROM ledger WHERE seq < 0", expect_min_rows=1), "answered 0 rows"),
        (smoke(sql="SELECT * FROM no_such_table"), "failed: "),
    ],
)
async def test_a_failing_smoke_query_fails_the_recovery_test_naming_it(
    runtime: Runtime, query: dict[str, Any], said: str
) -> None:
    with pytest.raises(ActionFailed, match="smoke query operations_kept on the restored copy") as e:
        await restore_tested(with_backups(runtime, smoke_queries=[query]), runtime)
    assert said in e.value.message


async def test_a_smoke_query_is_stopped_at_its_timeout(runtime: Runtime) -> None:
    slow = (
        "SELECT pg_sleep(30)"
        if runtime.engine.dialect.name == "postgresql"
        else "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT count(*) FROM n"
    )
    ctx = with_backups(runtime, smoke_queries=[smoke(sql=slow, timeout_s=0.2)])
    with pytest.raises(ActionFailed, match=r"smoke query operations_kept .* failed: ") as stopped:
        await restore_tested(ctx, runtime)
    assert "statement timeout" in stopped.value.message or "interrupted" in stopped.value.message


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("DELETE FROM operations", "a DELETE statement, not a SELECT"),
        ("SELECT 1; DROP TABLE operations", "2 statements"),
        ("WITH gone AS (DELETE FROM ledger RETURNING *) SELECT * FROM gone", "holds a DELETE"),
        ("SELECT * INTO copy FROM operations", "holds a INTO"),
        ("SELECT * FROM operations FOR UPDATE", "holds a LOCK"),
        ("VACUUM", "not a SELECT"),
        ("PRAGMA writable_schema = 1", "not a SELECT"),
        ("UPDATE ledger SET hash = 'x'", "not a SELECT"),
    ],
)
def test_a_smoke_query_that_is_not_one_select_is_refused_at_load(
    tmp_path: Path, sql: str, said: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(home=tmp_path, backups={"smoke_queries": [smoke(sql=sql)]})
    text = str(refused.value)
    assert "backups.smoke_queries.0.sql" in text and said in text


def test_a_smoke_query_names_a_configured_target_once(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown database target 'shop'"):
        Settings(home=tmp_path, backups={"smoke_queries": [smoke(target="shop", sql="SELECT 1")]})
    with pytest.raises(ValidationError, match="declared twice"):
        Settings(home=tmp_path, backups={"smoke_queries": [smoke(sql="SELECT 1")] * 2})


async def signed_runtime_context(runtime: Runtime, tmp_path: Path) -> ActionContext:
    """A context whose settings sign checkpoints, with one written and recorded now."""
    key_file = tmp_path / "checkpoint.key"
    checkpoints.generate_key_file(key_file)
    settings = runtime.settings.model_copy(
        update={"checkpoint_key_file": key_file, "checkpoint_log": tmp_path / "heads.jsonl"}
    )
    await submit(runtime, request())
    await sign(runtime, settings)
    return action_context(settings, runtime.databases)


async def sign(runtime: Runtime, settings: Settings) -> None:
    key = checkpoints.signing_key(settings)
    assert key is not None
    async with runtime.session(read_only=True) as session:
        signed = await checkpoints.write_checkpoint(
            session, key=key, log_path=settings.resolved_checkpoint_log
        )
    async with runtime.session() as session:
        checkpoints.record_checkpoint(session, signed)
        await lifecycle.commit(session)


async def test_triads_own_copy_passes_its_signed_checkpoints(
    runtime: Runtime, tmp_path: Path
) -> None:
    ctx = await signed_runtime_context(runtime, tmp_path)
    made = await DatabaseBackupAction().run(ctx, BackupParams())
    await submit(runtime, request())
    await sign(runtime, ctx.settings)  # signed after the backup: newer than the copy
    done = await RestoreTestAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))
    assert "checkpoints: 1 signed heads match the copy (1 newer than it)" in done["checks"]


async def test_a_tampered_checkpoint_signature_fails_the_copy(
    runtime: Runtime, tmp_path: Path
) -> None:
    ctx = await signed_runtime_context(runtime, tmp_path)
    made = await DatabaseBackupAction().run(ctx, BackupParams())
    log = ctx.settings.resolved_checkpoint_log
    line = log.read_text().splitlines()[0]
    signature = line.split('"signature":"')[1][:8]
    forged = signature[::-1] if signature[::-1] != signature else "AAAAAAAA"
    log.write_text(line.replace(signature, forged) + "\n")
    with pytest.raises(ActionFailed, match=r"fails its signed checkpoints: .*bad signature"):
        await RestoreTestAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))


async def test_a_checkpoint_re_signed_over_another_hash_fails_the_copy(
    runtime: Runtime, tmp_path: Path
) -> None:
    """Whoever holds the key signs a head the copy never had: the hash comparison finds it."""
    ctx = await signed_runtime_context(runtime, tmp_path)
    made = await DatabaseBackupAction().run(ctx, BackupParams())
    log = ctx.settings.resolved_checkpoint_log
    real = Checkpoint.model_validate_json(log.read_text().splitlines()[0])
    key = checkpoints.signing_key(ctx.settings)
    assert key is not None
    forged = checkpoints.sign_checkpoint(key, seq=real.seq, hash="0" * 64, at=real.at)
    log.write_text(forged.model_dump_json() + "\n")
    with pytest.raises(ActionFailed, match=f"entry {real.seq} is not the one signed"):
        await RestoreTestAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))


def test_expect_min_value_takes_any_number_and_names_what_is_not_one() -> None:
    query = SmokeQuery(target="triad", name="x", sql="SELECT 1", expect_min_value=2)
    assert unexpected(query, [(Decimal("3"),)]) is None  # PostgreSQL's sum() of bigints
    assert unexpected(query, [(2.5,)]) is None
    assert unexpected(query, [(1,)]) == "answered 1, expected at least 2"
    assert unexpected(query, [("3",)]) == "answered '3', expected a number of at least 2"
    assert unexpected(query, [(True,)]) == "answered True, expected a number of at least 2"
    assert unexpected(query, []) == "answered no row, expected a value"
