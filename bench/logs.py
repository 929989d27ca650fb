"""Log analysis throughput beside parsing the same JSON lines with orjson alone.

    python bench/logs.py [--quick]

The corpus is generated into a temporary folder: triad's own streams (one file per branch,
JSON lines as the server writes them) over two hours, 120 MB (12 MB with --quick), one line
in twenty a warning or an error of five known templates with random numbers, ids and
paths. The analysis reads the last hour against the hour before (so every line is read),
counts, masks and mines the templates, finds bursts; the baseline reads the same files and
only ``orjson.loads`` each line. Both best of 3.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from table import Row, cli
from triadops.ops.logs.service import analyze
from triadops.settings import Settings

AIM = 0.5
BRANCHES = ("legislative", "executive", "judicial", "crown", "system")
TEMPLATES = (
    "step {n} of op-{hex12} failed: connection refused by {ip}:5432",
    "backup {uuid} verification failed: {path} is {n} bytes short",
    "slow request GET /operations/{n} took {n}ms",
    "lease of worker-{n} expired after {n}s; operation re-queued",
    "disk {path} is {n}% full",
)
END = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def _message(rng: random.Random, template: str) -> str:
    return template.format(
        n=rng.randint(1, 99999),
        hex12=f"{rng.getrandbits(48):012x}",
        ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        uuid=f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}"
        f"-a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}",
        path=f"/var/lib/triad/{rng.choice(('db', 'backups', 'cache'))}/{rng.randint(1, 999)}",
    )


def generate(folder: Path, megabytes: int) -> int:
    """Write the corpus: lines in time order over two hours ending at END; return its size."""
    rng = random.Random(21)
    outs = {b: (folder / f"{b}.log").open("wb") for b in BRANCHES}
    target = megabytes * 1_000_000
    size = 0
    count = target // 190
    step = timedelta(hours=2) / count
    at = END - timedelta(hours=2)
    try:
        while size < target:
            at += step
            branch = rng.choice(BRANCHES)
            roll = rng.random()
            record: dict[str, object] = {
                "event": "stage ran",
                "level": "info",
                "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "logger": f"triadops.constitution.{branch}",
                "branch": branch,
                "operation_id": f"op-{rng.getrandbits(48):012x}",
            }
            if roll < 0.05:
                record["level"] = "error" if roll < 0.02 else "warning"
                record["event"] = _message(rng, TEMPLATES[rng.randrange(len(TEMPLATES))])
            else:
                record["duration_s"] = round(rng.random(), 4)
            line = orjson.dumps(record) + b"\n"
            outs[branch].write(line)
            size += len(line)
    finally:
        for out in outs.values():
            out.close()
    return size


def parse_only(folder: Path) -> int:
    """The baseline: every line of every file through orjson.loads, nothing else."""
    n = 0
    for path in sorted(folder.glob("*.log")):
        with path.open("rb") as f:
            for line in f:
                orjson.loads(line)
                n += 1
    return n


async def rows(quick: bool) -> list[Row]:
    """Analysis and parse-only throughput over the same generated corpus, best of 3."""
    megabytes = 12 if quick else 120
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "logs").mkdir()
        size = await asyncio.to_thread(generate, home / "logs", megabytes)
        settings = Settings(home=home, monitor=False)
        parsed, analysed = [], []
        found = None
        for _ in range(3):
            started = time.perf_counter()
            await asyncio.to_thread(parse_only, home / "logs")
            parsed.append(time.perf_counter() - started)
            started = time.perf_counter()
            found = await asyncio.to_thread(
                analyze, settings, END - timedelta(hours=1), END + timedelta(seconds=1)
            )
            analysed.append(time.perf_counter() - started)
    assert found is not None and len(found.templates) == len(TEMPLATES), found.templates
    mb = size / 1e6
    ratio = min(parsed) / min(analysed)
    return [
        Row(
            path=f"logs analyze, {mb:.0f} MB of JSON lines, {len(TEMPLATES)} error templates",
            measured=f"{mb / min(analysed):,.0f} MB/s ({min(analysed):.2f}s, best of 3)",
            baseline=f"orjson.loads alone: {mb / min(parsed):,.0f} MB/s",
            ratio=ratio,
            aim=f"≥{AIM}x",
            met=ratio >= AIM,
        )
    ]


if __name__ == "__main__":
    cli(rows, __doc__)
