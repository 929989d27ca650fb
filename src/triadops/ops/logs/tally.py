"""Count the lines of two adjacent windows: levels by group, errors by minute, templates.

One pass over the files of both windows (the analysed one and the one of the same length
before it), so a template has one id in both. Warnings and errors are masked (numbers,
ids, paths, IPs: `domain.log_figures.mask`) and mined into templates by drain3; a masked
message seen before skips the miner. Everything kept is bounded: templates, examples, the
masked-message cache, the problems listed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter, not_
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from drain3.drain import Drain

from triadops.domain.log_figures import mask
from triadops.domain.log_lines import (
    ERROR_AND_UP,
    WARNING_AND_UP,
    json_fields,
    level_of,
    text_level,
    text_time,
)
from triadops.logconfig import redact
from triadops.ops.logs.reader import Source, open_lines

CHUNK_BYTES = 256 * 1024
"""Lines are read (and JSON lines parsed) this many bytes at a time, about."""
_STAMP = itemgetter("timestamp")
_LEVEL = itemgetter("level")
_BRANCH_LEVEL = itemgetter("branch", "level")
_QUIET = frozenset({"info", "debug", "INFO", "DEBUG", "Info", "Debug"})
"""Level words of lines that cannot be warnings: no template is mined for them."""
LONGEST_LINE = 4 * 1024 * 1024
"""A line longer than this is read in pieces (memory stays bounded on a file without
newlines)."""
_DIGIT = re.compile(r"\d")
_DIGITS = str.maketrans("123456789", "000000000")
MEMO = 20_000
"""Masked messages remembered with their template; the memory is cleared when full."""
PROBLEMS = 20
"""Unreadable files named at most."""
DRAIN_DEPTH = 4
DRAIN_SIMILARITY = 0.4
"""drain3's defaults: two masked messages of one length sharing 40% of tokens are one."""


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """Whole lines, about `CHUNK_BYTES` at a time, each chunk ending with a newline.

    A last line without its newline (still being written) is read as one.
    """
    rest = b""
    while block := stream.read(CHUNK_BYTES):
        data = rest + block
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut]
        rest = data[cut:]
        if len(rest) > LONGEST_LINE:  # no newline in sight: read what there is as a line
            yield rest + b"\n"
            rest = b""
    if rest:
        yield rest + b"\n"


@dataclass(slots=True)
class TemplateTally:
    """One template's figures as lines arrive."""

    masked: str
    example: str
    level: str
    groups: set[str]
    first: str
    last: str
    count: int = 0
    previous: int = 0


@dataclass(slots=True)
class Caps:
    """What one analysis may read and keep."""

    max_bytes: int
    max_lines: int
    templates: int
    example_chars: int


@dataclass
class Tally:
    """The running counts of one analysis over ``[previous_since, until)``.

    Keys are UTC second keys (``2026-01-31T09:00:00``); lines before `previous_since` or
    from `until` on are read and not counted.
    """

    previous_since: str
    since: str
    until: str
    caps: Caps
    year: int
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    previous_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    errors_by_minute: Counter[str] = field(default_factory=Counter)
    templates: dict[int, TemplateTally] = field(default_factory=dict)
    templates_dropped: int = 0
    files_read: int = 0
    bytes_read: int = 0
    lines_read: int = 0
    untimed: int = 0
    first_minute: str | None = None
    truncated: bool = False
    problems: list[str] = field(default_factory=list)
    _memo: dict[str, int] = field(default_factory=dict)
    _shapes: dict[str, int] = field(default_factory=dict)
    """Messages with every digit 0, whose digits all fell in masks, with their template: the
    masks treat every digit alike, so another message of that shape masks the same way."""
    _position: int = 0
    """Bytes of the current file already added to `bytes_read`."""

    def __post_init__(self) -> None:
        self._drain = Drain(depth=DRAIN_DEPTH, sim_th=DRAIN_SIMILARITY)

    def read(self, source: Source, paths: list[Path]) -> None:
        """Count every line of `paths` (one source's files, oldest first) within the range."""
        for path in paths:
            if self.truncated:
                return
            self.files_read += 1
            self._position = 0
            try:
                self._read_file(source, path)
            except (OSError, EOFError, ValueError) as exc:
                if len(self.problems) < PROBLEMS:
                    self.problems.append(f"{path}: {type(exc).__name__}: {exc}")

    def _read_file(self, source: Source, path: Path) -> None:
        """Count one file's lines, a chunk at a time (parsed as one JSON array when it can)."""
        self._last_key: str | None = None
        self._last_level = "INFO"
        self._first: str | None = None
        with open_lines(path) as stream:
            for chunk in _chunks(stream):
                self.lines_read += chunk.count(b"\n")
                if self._over_caps(stream.tell()):
                    return
                try:
                    records = orjson.loads(b"[" + chunk.rstrip().replace(b"\n", b",") + b"]")
                except orjson.JSONDecodeError:
                    for raw in chunk.splitlines():
                        self._line(source, raw)
                else:
                    if not self._whole_chunk(source, records):
                        self._records(source, records)
        first = self._first
        if first is not None and (self.first_minute is None or first[:16] < self.first_minute):
            self.first_minute = first[:16]

    def _whole_chunk(self, source: Source, records: list[Any]) -> bool:
        """Count a chunk of triad-shaped lines that lies wholly in one window, at C speed.

        False (nothing counted) when it does not: a line of another shape, or a chunk that
        straddles a window's edge; `_records` then counts it line by line.
        """
        try:
            stamps = list(map(_STAMP, records))
            joined = "".join(stamps)
            if joined.count("Z") != len(stamps) or joined.count("T") != len(stamps):
                return False
            first, last = min(stamps), max(stamps)
            if first >= self.since and last < self.until:
                counted = self.counts
            elif first >= self.previous_since and last < self.since:
                counted = self.previous_counts
            else:
                return False
            pairs = Counter(map(_BRANCH_LEVEL if source.own else _LEVEL, records))
        except (KeyError, TypeError, IndexError):
            return False
        if self._first is None or first < self._first:
            self._first = first
        self._last_key = stamps[-1][:19]
        for pair, n in pairs.items():
            branch, word = pair if source.own else (source.name, pair)
            group = branch if isinstance(branch, str) else "system"
            key = (group, level_of(word) or "INFO")
            counted[key] = counted.get(key, 0) + n
        words = {pair[1] if source.own else pair for pair in pairs}
        if not words <= _QUIET:
            loud = map(not_, map(_QUIET.__contains__, map(_LEVEL, records)))
            for record in compress(records, loud):
                self._problem(source, record)
        return True

    def _problem(self, source: Source, record: dict[str, Any]) -> None:
        """Mine a triad-shaped line whose level word is not a quiet one."""
        level = level_of(record["level"])
        if level in WARNING_AND_UP:
            branch = record.get("branch") if source.own else source.name
            group = branch if isinstance(branch, str) else "system"
            key = record["timestamp"][:19]
            self._problem_line(key, level, group, json_fields(record)[2], record)

    def _records(self, source: Source, records: list[Any]) -> None:
        """Count parsed JSON lines; triad's own shape of line takes the short way."""
        own, name = source.own, source.name
        previous_since, since, until = self.previous_since, self.since, self.until
        raw_counts: dict[tuple[Any, Any, bool], int] = {}
        quiet, stamp = _QUIET, None
        for record in records:
            try:
                stamp, word = record["timestamp"], record["level"]
                if stamp[-1] != "Z" or stamp[10] != "T" or len(stamp) < 20:
                    raise ValueError(stamp)
                if stamp < previous_since or stamp >= until:
                    continue
                counted = (record.get("branch") if own else name, word, stamp >= since)
                raw_counts[counted] = raw_counts.get(counted, 0) + 1
            except (KeyError, TypeError, IndexError, ValueError):
                self._record(source, record)
                continue
            if self._first is None:
                self._first = stamp
            if word not in quiet:
                level = level_of(word)
                if level in WARNING_AND_UP:
                    group = counted[0] if isinstance(counted[0], str) else "system"
                    self._problem_line(stamp[:19], level, group, json_fields(record)[2], record)
        if stamp is not None:
            self._last_key = stamp[:19] if isinstance(stamp, str) else self._last_key
        for (branch, word, current), n in raw_counts.items():
            group = branch if isinstance(branch, str) else "system"
            key = (group, level_of(word) or "INFO")
            counted_in = self.counts if current else self.previous_counts
            counted_in[key] = counted_in.get(key, 0) + n

    def _record(self, source: Source, record: Any) -> None:
        """Count one JSON line of any shape: a time, level and message under common keys."""
        if not isinstance(record, dict):
            self.untimed += 1
            return
        key, level, message = json_fields(record)
        group = source.name
        if source.own:
            branch = record.get("branch")
            group = branch if isinstance(branch, str) else "system"
        self._count(key or self._last_key, level or "INFO", group, message, record)
        self._last_key = key or self._last_key

    def _line(self, source: Source, raw: bytes) -> None:
        """Count one line that is not part of a JSON chunk: a JSON object, or plain text."""
        if raw[:1] == b"{":
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
            else:
                self._record(source, record)
                return
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            return
        found = text_time(text, self.year)
        if found is None:
            key, level, start = self._last_key, None, 0
        else:
            key, level, start = found
        word, begins = text_level(text, start)
        level = word or level or (self._last_level if found is None else "INFO")
        self._count(key, level, source.name, text[begins:].strip(), raw)
        self._last_key, self._last_level = key, level

    def _over_caps(self, position: int) -> bool:
        """Add the file's bytes read so far; past a cap, mark the analysis truncated."""
        self.bytes_read += position - self._position
        self._position = position
        if self.bytes_read > self.caps.max_bytes or self.lines_read > self.caps.max_lines:
            self.truncated = True
        return self.truncated

    def _count(
        self, key: str | None, level: str, group: str, message: str, raw: bytes | Any
    ) -> None:
        if key is None:
            self.untimed += 1
            return
        if key < self.previous_since or key >= self.until:
            return
        counted = self.counts if key >= self.since else self.previous_counts
        counted[group, level] = counted.get((group, level), 0) + 1
        if self._first is None or key < self._first:
            self._first = key
        if level in WARNING_AND_UP:
            self._problem_line(key, level, group, message, raw)

    def _problem_line(
        self, key: str, level: str, group: str, message: str, raw: bytes | Any
    ) -> None:
        """Count a warning or an error under its template (and, an error, in its minute).

        `raw` is the line, or its parsed record (serialised again only for an example).
        """
        current = key >= self.since
        if level in ERROR_AND_UP:
            self.errors_by_minute[key[:16]] += 1
        shape = message.translate(_DIGITS)
        cluster = self._shapes.get(shape)
        if cluster is None:
            masked = mask(message)
            cluster = self._memo.get(masked)
            if cluster is None:
                cluster = self._drain.add_log_message(masked)[0].cluster_id
                if len(self._memo) >= MEMO:
                    self._memo.clear()
                self._memo[masked] = cluster
            if len(self._shapes) >= MEMO:
                self._shapes.clear()
            if _DIGIT.search(masked) is None:
                # Every digit was masked: any message of this shape masks the same way.
                self._shapes[shape] = cluster
            masked_first = masked
        else:
            masked_first = ""
        found = self.templates.get(cluster)
        if found is None:
            line = raw if isinstance(raw, bytes) else orjson.dumps(raw)
            example = redact(line.decode("utf-8", "replace").strip())[: self.caps.example_chars]
            found = self.templates[cluster] = TemplateTally(
                masked_first or mask(message), example, level, {group}, key, key
            )
            if len(self.templates) > 4 * self.caps.templates:
                self._drop_rare()
        if current:
            found.count += 1
        else:
            found.previous += 1
        if key < found.first:
            found.first = key
        elif key > found.last:
            found.last = key
        found.groups.add(group)
        if level == "CRITICAL" or (level == "ERROR" and found.level == "WARNING"):
            found.level = level

    def _drop_rare(self) -> None:
        """Keep the most frequent half of the cap; count the others dropped."""
        ranked = sorted(
            self.templates, key=lambda c: -(self.templates[c].count + self.templates[c].previous)
        )
        for cluster in ranked[self.caps.templates * 2 :]:
            del self.templates[cluster]
            self.templates_dropped += 1

    def template_text(self, cluster: int) -> str:
        """The mined template of `cluster` (its masked first message when drain forgot it)."""
        found = self._drain.id_to_cluster.get(cluster)
        return found.get_template() if found is not None else self.templates[cluster].masked
