"""Triad's own log files: a JSON-lines stream per branch, rotated by size and age, no secrets.

The doors a secret could leave by, each tried: an event's value, a message of the standard
library's loggers, an exception's text, a bearer token, a URL password, a value under a
secret-sounding key, and a configured secret (a ``SecretStr`` of the settings) anywhere.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from tests.fixtures.api import noop_request
from tests.fixtures.servers import issue_token, triad_serve
from triadops.constitution.ledger.chain import stream_of
from triadops.logconfig import logging_configured
from triadops.logfiles import BRANCHES, QUEUE_SIZE, LogFiles, RotatingJsonLines
from triadops.settings import Settings
from triadops.settings.logs import secret_values

FOREIGN = f"a.library.{uuid.uuid4().hex}"
"""A standard-library logger no other test configures (uvicorn's may be disabled by one)."""


def lines(path: Path) -> list[dict[str, Any]]:
    """Every event of one stream: its gzipped generations, oldest first, then the live file."""
    found: list[dict[str, Any]] = []
    for generation in sorted(path.parent.glob(f"{path.name}.*.gz")):
        with gzip.open(generation, "rt", encoding="utf-8") as f:
            found += [json.loads(line) for line in f]
    if path.exists():
        found += [json.loads(line) for line in path.read_text().splitlines()]
    return found


def test_each_event_goes_to_its_branchs_file_naming_its_operation(tmp_path: Path) -> None:
    files = LogFiles(tmp_path)
    with logging_configured(logging.INFO, files=files):
        structlog.stdlib.get_logger("triadops.constitution.legislative.stages").info("planned")
        structlog.stdlib.get_logger("triadops.actions").info("step ran")
        structlog.stdlib.get_logger("triadops.checks.http_probe").info("probed")
        structlog.stdlib.get_logger("triadops.constitution.ledger.chain").info("appended")
        structlog.stdlib.get_logger("triadops.api.app").info("started")
        logging.getLogger(FOREIGN).warning("from the standard library")
        # What runs while a stage is bound belongs to that stage's branch, whoever logs it.
        with structlog.contextvars.bound_contextvars(operation_id="op-1", branch="judicial"):
            structlog.stdlib.get_logger("triadops.api.app").info("during validation")
    found = {b: lines(tmp_path / f"{b}.log") for b in BRANCHES}
    assert [e["event"] for e in found["legislative"]] == ["planned"]
    assert [e["event"] for e in found["executive"]] == ["step ran"]
    assert [e["event"] for e in found["judicial"]] == ["probed", "during validation"]
    assert [e["event"] for e in found["crown"]] == ["appended"]
    assert [e["event"] for e in found["system"]] == ["started", "from the standard library"]
    assert found["judicial"][1]["operation_id"] == "op-1"
    assert all(e["branch"] == b for b, events in found.items() for e in events)
    assert all("timestamp" in e and "level" in e for events in found.values() for e in events)


def test_a_file_past_its_size_is_gzipped_aside_and_no_line_is_lost(tmp_path: Path) -> None:
    files = LogFiles(tmp_path, max_bytes=4096, keep=1000)
    with logging_configured(logging.INFO, files=files):
        log = structlog.stdlib.get_logger("triadops.api.app")
        for n in range(500):
            log.info("request", n=n)
    generations = sorted(tmp_path.glob("system.log.*.gz"))
    assert len(generations) >= 5
    assert all(g.stat().st_size < 4096 for g in generations)
    assert [e["n"] for e in lines(tmp_path / "system.log")] == list(range(500))


def test_only_the_newest_generations_are_kept(tmp_path: Path) -> None:
    files = LogFiles(tmp_path, max_bytes=4096, keep=2)
    with logging_configured(logging.INFO, files=files):
        log = structlog.stdlib.get_logger("triadops.api.app")
        for n in range(500):
            log.info("request", n=n)
    assert len(list(tmp_path.glob("system.log.*.gz"))) == 2
    kept = [e["n"] for e in lines(tmp_path / "system.log")]
    assert kept == list(range(kept[0], 500))  # the newest, in order, none missing among them


def record_at(at: float, event: str) -> logging.LogRecord:
    """A record emitted at `at` (Unix seconds), its message the finished JSON line."""
    stamp = datetime.fromtimestamp(at, UTC).isoformat()
    line = json.dumps({"event": event, "timestamp": stamp})
    record = logging.LogRecord("triadops.api", logging.INFO, __file__, 1, line, None, None)
    record.created = at
    return record


def test_a_file_older_than_its_age_is_rotated_however_small(tmp_path: Path) -> None:
    path = tmp_path / "system.log"
    stream = RotatingJsonLines(path, max_bytes=1 << 20, max_age_s=3600, keep=10)
    start = 1_000_000.0
    stream.handle(record_at(start, "first"))
    stream.handle(record_at(start + 3599, "second"))
    stream.handle(record_at(start + 3600, "third"))
    stream.close()
    generations = sorted(tmp_path.glob("system.log.*.gz"))
    assert len(generations) == 1
    with gzip.open(generations[0], "rt") as f:
        assert [json.loads(line)["event"] for line in f] == ["first", "second"]
    # A restart does not reset the age: the live file's first line says when it began.
    again = RotatingJsonLines(path, max_bytes=1 << 20, max_age_s=3600, keep=10)
    again.handle(record_at(start + 7199, "fourth"))
    again.handle(record_at(start + 7200, "fifth"))
    again.close()
    assert len(list(tmp_path.glob("system.log.*.gz"))) == 2
    assert [e["event"] for e in lines(path)] == ["first", "second", "third", "fourth", "fifth"]


def test_a_writer_that_falls_behind_drops_and_counts_rather_than_blocking(
    tmp_path: Path,
) -> None:
    files = LogFiles(tmp_path)  # not started: nothing drains the queue
    record = logging.LogRecord("triadops.api", logging.INFO, __file__, 1, "x", None, None)
    try:
        for _ in range(QUEUE_SIZE + 25):
            files.handler.handle(record)
    finally:
        files.stop()
    assert files.dropped == 25


CONFIGURED = "configured-" + uuid.uuid4().hex
TOKEN = "triad_" + uuid.uuid4().hex
URL_PASSWORD = "pw-" + uuid.uuid4().hex[:12]


def test_no_secret_reaches_a_file_by_any_door(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "home": tmp_path,
            "alerts": {
                "channels": {
                    "log": {"kind": "log"},
                    "hook": {"kind": "webhook", "url": "http://x/", "secret": CONFIGURED},
                }
            },
        }
    )
    secrets = list(secret_values(settings))
    assert CONFIGURED in secrets
    files = LogFiles(tmp_path / "logs")
    with logging_configured(logging.INFO, files=files, secrets=secrets):
        log = structlog.stdlib.get_logger("triadops.actions")
        log.info("a value", said=f"the key is {CONFIGURED} today")
        log.info("headers", authorization=f"Bearer {TOKEN}", note=f"sent {TOKEN}")
        log.info("dsn", url=f"postgresql://ops:{URL_PASSWORD}@db/prod")
        logging.getLogger(FOREIGN).error("message with %s inside", CONFIGURED)
        try:
            raise RuntimeError(f"failed with {CONFIGURED} and {TOKEN}")
        except RuntimeError:
            log.exception("it broke")
    written = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert "it broke" in written and "message with" in written
    for secret in (CONFIGURED, TOKEN, URL_PASSWORD):
        assert secret not in written


@pytest.mark.slow
async def test_a_real_server_writes_an_operations_story_in_its_branches_files(
    settings: Settings, tmp_path: Path
) -> None:
    token = await issue_token(settings)
    async with (
        triad_serve(settings, tmp_path) as served,
        httpx.AsyncClient(base_url=served.url, timeout=60) as client,
    ):
        answer = await client.post(
            "/operations",
            headers={"Authorization": f"Bearer {token}"},
            json=noop_request(steps=[{"action": "noop", "params": {}}]),
        )
        assert answer.status_code in (200, 201, 202), answer.text
        operation_id = answer.json()["operation_id"]

        def seen(branch: str) -> list[dict[str, Any]]:
            path = settings.log_dir / f"{branch}.log"
            if not path.exists():
                return []
            events = (json.loads(line) for line in path.read_text().splitlines())
            return [e for e in events if e.get("operation_id") == operation_id]

        async with asyncio.timeout(60):
            while not any(e["event"] == "step ran" for e in seen("executive")) or not any(
                e.get("to_status") == "completed" for e in seen("judicial")
            ):
                await asyncio.sleep(0.1)
    # Each branch's decisions are in its own stream, as the ledger committed them.
    assert {e["kind"] for e in seen("legislative") if e["event"] == "ledger entry"} >= {
        "submitted",
        "plan",
    }
    assert {e["kind"] for e in seen("executive") if e["event"] == "ledger entry"} >= {
        "step_started",
        "step_succeeded",
    }
    step = next(e for e in seen("executive") if e["event"] == "step ran")
    assert step["action"] == "noop" and step["ok"] is True
    assert all(e["branch"] == b for b in BRANCHES for e in seen(b))


@pytest.mark.parametrize(
    ("actor", "kind", "stream"),
    [
        ("executive:w", "step_started", "executive"),
        ("judicial:rules", "transition", "judicial"),
        ("carol", "submitted", "legislative"),
        ("carol", "approval", "legislative"),
        ("elizabeth", "acknowledged", "crown"),
        ("elizabeth", "freeze", "crown"),
        ("monitor", "alert_fired", "system"),
        ("triad:scheduler", "maintenance_task_run", "system"),
    ],
)
def test_each_ledger_entry_is_logged_in_its_makers_stream(
    actor: str, kind: str, stream: str
) -> None:
    assert stream_of(actor, kind) == stream


def test_a_file_moved_away_by_an_outside_rotation_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "system.log"
    stream = RotatingJsonLines(path, max_bytes=1 << 20, max_age_s=3600, keep=10)
    stream.handle(record_at(1_000_000.0, "before"))
    path.rename(tmp_path / "system.log.1")  # as logrotate does
    stream.handle(record_at(1_000_001.0, "after"))
    stream.close()
    assert [e["event"] for e in lines(path)] == ["after"]
    assert "before" in (tmp_path / "system.log.1").read_text()
