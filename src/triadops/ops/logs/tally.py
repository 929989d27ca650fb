"""Count the lines of two adjacent windows: levels by group, errors by minute, templates.

One pass over the files of both windows (the analysed one and the one of the same length
before it), so a template has one id in both. Warnings and errors are masked (numbers,
ids, paths, IPs: `domain.log_figures.mask`) and mined into templates by drain3; a masked
message seen before skips the miner. Everything kept is bounded: templates, examples, the
masked-message cache, the problems listed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from drain3.drain import Drain

from triadops.domain.log_figures import mask
from triadops.domain.log_lines import (
    ERROR_AND_UP,
    WARNING_AND_UP,
    json_fields,
    text_level,
    text_time,
)
from triadops.logconfig import redact
from triadops.ops.logs.reader import Source, lines

MEMO = 20_000
"""Masked messages remembered with their template; the memory is cleared when full."""
PROBLEMS = 20
"""Unreadable files named at most."""
DRAIN_DEPTH = 4
DRAIN_SIMILARITY = 0.4
"""drain3's defaults: two masked messages of one length sharing 40% of tokens are one."""


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
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    previous_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
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

    def __post_init__(self) -> None:
        self._drain = Drain(depth=DRAIN_DEPTH, sim_th=DRAIN_SIMILARITY)

    def read(self, source: Source, paths: list[Path]) -> None:
        """Count every line of `paths` (one source's files, oldest first) within the range."""
        for path in paths:
            if self.truncated:
                return
            self.files_read += 1
            try:
                self._read_file(source, path)
            except (OSError, EOFError, ValueError) as exc:
                if len(self.problems) < PROBLEMS:
                    self.problems.append(f"{path}: {type(exc).__name__}: {exc}")

    def _read_file(self, source: Source, path: Path) -> None:
        group = source.name
        last_key: str | None = None
        last_level = "INFO"
        caps = self.caps
        for raw in lines(path):
            self.bytes_read += len(raw)
            self.lines_read += 1
            if self.bytes_read > caps.max_bytes or self.lines_read > caps.max_lines:
                self.truncated = True
                return
            level: str | None
            if raw[:1] == b"{":
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    record = None
                if isinstance(record, dict):
                    key, level, message = json_fields(record)
                    if source.own:
                        branch = record.get("branch")
                        group = branch if isinstance(branch, str) else "system"
                    self._count(key or last_key, level or "INFO", group, message, raw)
                    last_key = key or last_key
                    continue
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            found = text_time(text, self.year)
            if found is None:
                key, level, start = last_key, None, 0
            else:
                key, level, start = found
            level = text_level(text, start) or level or (last_level if found is None else "INFO")
            self._count(key, level, group, text[start:].strip(), raw)
            last_key, last_level = key, level

    def _count(self, key: str | None, level: str, group: str, message: str, raw: bytes) -> None:
        if key is None:
            self.untimed += 1
            return
        if key < self.previous_since or key >= self.until:
            return
        current = key >= self.since
        if current:
            self.counts[(group, level)] += 1
        else:
            self.previous_counts[(group, level)] += 1
        if self.first_minute is None or key[:16] < self.first_minute:
            self.first_minute = key[:16]
        if level not in WARNING_AND_UP:
            return
        if level in ERROR_AND_UP:
            self.errors_by_minute[key[:16]] += 1
        self._template(key, level, group, message, raw, current=current)

    def _template(
        self, key: str, level: str, group: str, message: str, raw: bytes, *, current: bool
    ) -> None:
        masked = mask(message)
        cluster = self._memo.get(masked)
        if cluster is None:
            cluster = self._drain.add_log_message(masked)[0].cluster_id
            if len(self._memo) >= MEMO:
                self._memo.clear()
            self._memo[masked] = cluster
        found = self.templates.get(cluster)
        if found is None:
            example = redact(raw.decode("utf-8", "replace").strip())[: self.caps.example_chars]
            found = self.templates[cluster] = TemplateTally(
                masked, example, level, {group}, key, key
            )
            if len(self.templates) > 4 * self.caps.templates:
                self._drop_rare()
        if current:
            found.count += 1
        else:
            found.previous += 1
        found.first, found.last = min(found.first, key), max(found.last, key)
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
