"""Reading log files: rotated and compressed generations in order, plain text, caps."""

from __future__ import annotations

import gzip
import io
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard

from tests.ops.logs.corpus import line, write
from triadops.domain.clock import utcnow
from triadops.domain.log_lines import text_time
from triadops.logfiles import RotatingJsonLines
from triadops.ops.logs.reader import OWN, Source, files, lines, sources
from triadops.ops.logs.service import analyze
from triadops.ops.logs.tally import CHUNK_BYTES, LONGEST_LINE, _chunks
from triadops.settings import Settings


def emit(handler: RotatingJsonLines, text: str, at: float) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, text, None, None)
    record.created = at
    handler.emit(record)


def test_rotated_gzipped_and_zstd_generations_are_read_oldest_first(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    start = utcnow() - timedelta(minutes=30)
    handler = RotatingJsonLines(folder / "executive.log", max_bytes=4096, max_age_s=1e9, keep=50)
    written = []
    for i in range(200):
        at = start + timedelta(seconds=i)
        written.append(line(at, f"event {i}"))
        emit(handler, written[-1], at.timestamp())
    handler.close()
    generations = sorted(folder.glob("executive.log.*.gz"))
    assert len(generations) >= 3, "the writer rotated several times"
    # An outside tool's zstd generation of the oldest one, beside it (and older).
    oldest = generations[0]
    zst = oldest.with_name(oldest.name.removesuffix(".gz") + ".zst")
    zst.write_bytes(zstandard.ZstdCompressor().compress(gzip.decompress(oldest.read_bytes())))
    os.utime(zst, (oldest.stat().st_mtime - 1, oldest.stat().st_mtime - 1))
    oldest.unlink()

    source = Source(OWN, folder, own=True)
    found = files(source, since=0)
    assert found[0] == zst and found[-1] == folder / "executive.log"
    read = [raw.decode().rstrip("\n") for path in found for raw in lines(path)]
    assert read == written

    settings = Settings(home=tmp_path)
    analysis = analyze(settings, start - timedelta(minutes=1), start + timedelta(minutes=10))
    assert analysis.lines == 200 and analysis.files_read == len(found)
    assert [(c.group, c.level, c.count) for c in analysis.counts] == [("executive", "INFO", 200)]


def test_a_file_older_than_the_range_is_not_opened(tmp_path: Path) -> None:
    folder = tmp_path / "svc"
    old = write(folder / "old.log", ["2020-01-01T00:00:00Z ERROR long ago"])
    os.utime(old, (1_000_000, 1_000_000))
    new = write(folder / "new.log", ["x"])
    assert files(Source("svc", folder, own=False), since=2_000_000) == [new]


def test_plain_text_service_logs_in_common_formats(tmp_path: Path) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    write(
        tmp_path / "web" / "access.log",
        [
            '10.0.0.1 - - [10/Mar/2026:11:00:01 +0000] "GET / HTTP/1.1" 200 512',
            '10.0.0.2 - bob [10/Mar/2026:13:00:02 +0200] "GET /x HTTP/1.1" 502 0 "-" "curl"',
        ],
    )
    write(
        tmp_path / "web" / "app.log",
        [
            "2026-03-10 11:10:00,123 ERROR worker 12 crashed: out of memory",
            "Traceback (most recent call last):",
            '  File "/srv/app.py", line 3, in <module>',
            "2026-03-10T11:11:00+01:00 [warn] queue 7 is slow",
            "Mar 10 11:12:00 host cron[42]: job 9 started",
            "2026/03/10 11:13:00 [error] 77#0: upstream 10.1.1.1:80 timed out",
        ],
    )
    write(tmp_path / "web" / "untimed.log", ["no time here, nothing before it"])
    settings = Settings(home=tmp_path / "home", log_dirs=[tmp_path / "web"])
    assert set(sources(settings)) == {"triad", "web"}
    analysis = analyze(settings, now - timedelta(hours=1), now, "web")
    by_level = {c.level: c.count for c in analysis.counts if c.count}
    # From 11:00 UTC: access 1 INFO + 1 ERROR (502, 11:00:02 UTC); the app's ERROR and its two
    # traceback lines (its time, its level), cron INFO, nginx's error. Its warning is at
    # 10:11 UTC: the range before.
    assert by_level == {"INFO": 2, "ERROR": 5}
    assert analysis.previous_lines == 1 and analysis.untimed == 1
    templates = {t.template: t.count for t in analysis.templates}
    assert templates["worker <NUM> crashed: out of memory"] == 1
    assert any("upstream <IP> timed out" in t for t in templates)
    assert all(c.group == "web" for c in analysis.counts)


def test_json_service_lines_of_other_shapes(tmp_path: Path) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    millis = int((now - timedelta(minutes=5)).timestamp() * 1000)
    write(
        tmp_path / "api" / "api.log",
        [
            f'{{"time": {millis}, "level": "error", "msg": "order 17 rejected"}}',
            '{"@timestamp": "2026-03-10T11:56:00+00:00", "severity": "WARN", "message": "slow"}',
            '{"message": "no time: the line before\'s"}',
            '["not", "an", "object"]',
        ],
    )
    settings = Settings(home=tmp_path / "home", log_dirs=[tmp_path / "api"])
    analysis = analyze(settings, now - timedelta(hours=1), now, "api")
    assert {(c.level, c.count) for c in analysis.counts} == {
        ("ERROR", 1),
        ("WARNING", 1),
        ("INFO", 1),
    }
    assert analysis.untimed == 1
    assert {t.template for t in analysis.templates} == {"order <NUM> rejected", "slow"}


def test_times_at_a_line_start() -> None:
    assert text_time("2026-01-31T09:00:00Z x", 2026) == ("2026-01-31T09:00:00", None, 20)
    assert text_time("2026-01-31T09:00:00-02:30 x", 2026) is not None
    assert text_time("2026-01-31T09:00:00-02:30 x", 2026)[0] == "2026-01-31T11:30:00"  # type: ignore[index]
    assert text_time("Feb 30 09:00:00 nope", 2026) is None
    assert text_time("just words", 2026) is None


def test_the_caps_truncate_and_say_so(tmp_path: Path) -> None:
    now = utcnow()
    write(
        tmp_path / "home" / "logs" / "system.log",
        (line(now - timedelta(seconds=i), "tick", branch="system") for i in range(3000, 0, -1)),
    )
    settings = Settings(home=tmp_path / "home", logs={"analysis": {"max_lines": 1000}})
    analysis = analyze(settings, now - timedelta(hours=1))
    assert analysis.truncated is True and analysis.lines < 3000
    assert analysis.insights[0].startswith("Truncated")
    whole = analyze(Settings(home=tmp_path / "home"), now - timedelta(hours=1))
    assert whole.truncated is False and whole.lines == 3000


def test_blocks_are_whole_lines_and_a_line_without_end_is_bounded() -> None:
    data = b"a\nbb\n" + b"c" * (LONGEST_LINE + CHUNK_BYTES * 2) + b"\nlast"
    pieces = list(_chunks(io.BytesIO(data)))
    assert all(p.endswith(b"\n") for p in pieces)
    assert max(map(len, pieces)) <= LONGEST_LINE + CHUNK_BYTES + 1
    # Nothing lost: the long line is read in pieces, each taken as a line of its own.
    assert b"".join(pieces).replace(b"\n", b"") == data.replace(b"\n", b"")
    assert pieces[0].startswith(b"a\nbb\n") and pieces[-1] == b"last\n"
