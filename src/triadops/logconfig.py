"""How triadops configures logging: one line per event, plain bounded tracebacks, no secrets.

Servers and commands call `configure_logging` (or `logging_configured` for a while). structlog
and the standard library's loggers (uvicorn's, SQLAlchemy's) then share one chain: an
exception becomes a plain traceback of its outer and inner frames, capped in size, never with
local variables (they hold tokens, passwords and whole requests); every value is scrubbed of
bearer tokens, passwords in URLs and values under secret-sounding keys; the event is rendered
as one JSON or logfmt line. Formatting is plain and bounded, cheap enough for the event loop.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, ExcInfo, Processor, WrappedLogger

from triadops.logfiles import LogFiles, add_branch

Renderer = Literal["json", "logfmt"]
"""``json`` for servers (one object a line), ``logfmt`` (``key=value``) for commands."""

TRACEBACK_OUTER_FRAMES = 4
"""Outermost frames kept of each exception in a chain: which route, which service."""
TRACEBACK_INNER_FRAMES = 8
"""Innermost frames kept of each exception in a chain: where it went wrong."""
TRACEBACK_MAX_CHARS = 8000
"""A rendered traceback longer than this keeps its end: the last frames and the error."""
MASK = "***"

# Order matters: a bearer token is masked whole before its `triad_` prefix could be.
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s'\",;]+")
_TOKEN = re.compile(r"triad_[A-Za-z0-9_-]{16,}")
# Greedy up to the last `@` of the word: a password may itself contain `@` or `:`.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)\S*@")
_AUTHORIZATION = re.compile(r"(?i)\b(authorization['\"]?\s*[=:]\s*['\"]?)[^\n'\"]+")
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|secret|api_?key)(['\"]?\s*[=:]\s*['\"]?)[^\s'\",;&]+"
)
_SECRET_KEY = re.compile(r"(?i)token|secret|password|passwd|authorization|api_?key|credential")
"""Keys whose whole value is masked, whatever it looks like."""
_LOGGERS_WE_OWN = ("uvicorn", "uvicorn.error", "uvicorn.access")
"""Loggers that come with handlers of their own; ours replace them."""
SHORTEST_SECRET = 6
"""Configured secrets shorter than this are not masked by value: they would mask words."""
_configured: re.Pattern[str] | None = None
"""The configured secrets' values (passwords, keys from the settings), masked wherever seen."""
_files: LogFiles | None = None
"""The per-branch log files this process writes, if any."""


def mask_values(secrets: Iterable[str]) -> None:
    """Mask these exact values in every event from now on (the settings' secrets).

    Longest first, so a secret that contains another is masked whole.
    """
    global _configured
    found = sorted({s for s in secrets if len(s) >= SHORTEST_SECRET}, key=len, reverse=True)
    _configured = re.compile("|".join(map(re.escape, found))) if found else None


def redact(text: str) -> str:
    """Return `text` with tokens, authorization headers, URL passwords and ``password=…`` masked.

    And the configured secrets' values (`mask_values`), wherever they appear.
    """
    if _configured is not None:
        text = _configured.sub(MASK, text)
    text = _AUTHORIZATION.sub(rf"\g<1>{MASK}", text)
    text = _BEARER.sub(rf"\g<1>{MASK}", text)
    text = _TOKEN.sub(f"triad_{MASK}", text)
    text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    return _KEY_VALUE.sub(rf"\g<1>\g<2>{MASK}", text)


def _scrub(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _scrub_item(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item) for item in value]
    # Anything else is rendered by its str() anyway; scrub what it would print.
    return redact(str(value))


def _scrub_item(key: str, value: Any) -> Any:
    if value is not None and _SECRET_KEY.search(key):
        return MASK
    return _scrub(value)


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Mask secrets in every value of the event, the rendered exception included."""
    return {key: _scrub_item(key, value) for key, value in event_dict.items()}


class _CutStack(traceback.StackSummary):
    """A stack that shows its outer and inner frames and counts the ones between."""

    def __init__(self, frames: list[traceback.FrameSummary]) -> None:
        outer, inner = frames[:TRACEBACK_OUTER_FRAMES], frames[-TRACEBACK_INNER_FRAMES:]
        super().__init__([*outer, *inner])
        self._outer = traceback.StackSummary.from_list(outer)
        self._inner = traceback.StackSummary.from_list(inner)
        self._cut = len(frames) - len(outer) - len(inner)

    def format(self) -> list[str]:
        """Format the kept frames with a line saying how many were cut between them."""
        return [*self._outer.format(), f"  [{self._cut} frames cut]\n", *self._inner.format()]


def _cut_frames(exc: traceback.TracebackException, seen: set[int]) -> None:
    """Cut the middle frames of `exc` and of every exception chained to it."""
    if id(exc) in seen:
        return
    seen.add(id(exc))
    if len(exc.stack) > TRACEBACK_OUTER_FRAMES + TRACEBACK_INNER_FRAMES:
        exc.stack = _CutStack(list(exc.stack))
    for linked in (exc.__cause__, exc.__context__, *(exc.exceptions or ())):
        if linked is not None:
            _cut_frames(linked, seen)


def format_traceback(exc_info: ExcInfo) -> str:
    """Return a plain traceback: no local variables, the outer and inner frames, a size cap.

    Secrets are masked before the cut, so a cut never leaves half a secret unrecognised.
    """
    exc = traceback.TracebackException(*exc_info, compact=True)
    _cut_frames(exc, set())
    text = redact("".join(exc.format()).rstrip("\n"))
    if len(text) <= TRACEBACK_MAX_CHARS:
        return text
    marker = f"[{len(text) - TRACEBACK_MAX_CHARS} characters cut]\n"
    return marker + text[len(text) - TRACEBACK_MAX_CHARS + len(marker) :]


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Write to whatever ``sys.stderr`` is at the time: test runners and CLI runners swap it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _render(renderer: Renderer) -> Processor:
    if renderer == "json":
        return structlog.processors.JSONRenderer()
    return structlog.processors.LogfmtRenderer(key_order=["timestamp", "level", "event"])


def _formatter(shared: list[Processor], renderer: Renderer) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.ExceptionRenderer(format_traceback),
            redact_secrets,
            _render(renderer),
        ],
    )


def configure_logging(
    level: int = logging.INFO,
    *,
    renderer: Renderer = "json",
    files: LogFiles | None = None,
    secrets: Iterable[str] | None = None,
) -> None:
    """Send structlog's and the standard library's events at `level` and up to stderr.

    With `files`, to triad's per-branch JSON-lines files too (started here; the files a
    previous call started are stopped, what they queued written first). `secrets` are
    values masked wherever they appear (`mask_values`); None keeps those already set.
    """
    global _files
    if secrets is not None:
        mask_values(secrets)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_branch,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(_formatter(shared, renderer))
    handlers: list[logging.Handler] = [handler]
    if _files is not None and _files is not files:
        _files.stop()
    _files = files
    if files is not None:
        files.handler.setFormatter(_formatter(shared, "json"))
        files.start()
        handlers.append(files.handler)
    root = logging.getLogger()
    root.handlers = handlers
    root.setLevel(level)
    for name in _LOGGERS_WE_OWN:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


@contextmanager
def logging_configured(
    level: int,
    *,
    renderer: Renderer = "logfmt",
    files: LogFiles | None = None,
    secrets: Iterable[str] | None = None,
) -> Iterator[None]:
    """Configure logging as `configure_logging` does, then restore what was there before.

    For code that runs inside other programs (tests, a server's own process): it must not
    leave their logging changed.
    """
    global _files, _configured
    structlog_config: dict[str, Any] = structlog.get_config()
    masked = _configured
    root = logging.getLogger()
    root_state = (list(root.handlers), root.level)
    owned = [
        (logger, list(logger.handlers), logger.propagate)
        for logger in map(logging.getLogger, _LOGGERS_WE_OWN)
    ]
    previous, _files = _files, None  # left open, not written to while this block runs
    configure_logging(level, renderer=renderer, files=files, secrets=secrets)
    try:
        yield
    finally:
        if files is not None:
            files.stop()
        _files, _configured = previous, masked
        structlog.configure(**structlog_config)
        root.handlers = root_state[0]
        root.setLevel(root_state[1])
        for logger, handlers, propagate in owned:
            logger.handlers = handlers
            logger.propagate = propagate


def stop_log_files() -> None:
    """Write what the log files queued and close them (at a process's end)."""
    global _files
    if _files is not None:
        _files.stop()
        _files = None
