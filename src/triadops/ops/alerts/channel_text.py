"""What a channel may be told and what is kept of its answer: one line, no secrets.

Alert text is written by whoever posts alerts; a receiver's answer by whoever runs it. An
email header gets one line of text (a line break would add a header); ``last_error``, read
by every viewer, gets what a receiver said without the channel URL's path or query (a
Slack webhook's secret is its path), on one line and bounded.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

import httpx

from triadops.logconfig import MASK, redact

MAX_SAID_CHARS = 200
"""The most of what a receiver said that is kept in ``last_error``."""
MIN_SECRET_PART = 6
"""Parts of a channel URL's path or query this long or longer may be masked on their own."""


def one_line(text: str, *, limit: int | None = None) -> str:
    """Return `text` on one line, without control characters or line separators.

    Control characters, line and paragraph separators (CR, LF, U+0085, U+2028, U+2029, …)
    become spaces, lone surrogates U+FFFD.

    What an alert source wrote goes into email headers through this: a line break there
    would end the header and start another (``Bcc: …``), or make the message unsendable.
    """
    kept = []
    for char in text:
        kind = unicodedata.category(char)
        if kind in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif kind == "Cs":
            kept.append("\ufffd")
        else:
            kept.append(char)
    line = " ".join("".join(kept).split())
    if limit is not None and len(line) > limit:
        return line[: limit - 1] + "…"
    return line


def _whole_parts(url: str) -> list[str]:
    """The URL and its path and query, as sent and decoded, longest first."""
    parsed = httpx.URL(url)
    raw_path = parsed.raw_path.decode("ascii", errors="replace")
    path, _, query = raw_path.partition("?")
    parts = {url, url.rstrip("/"), raw_path, path, query, parsed.path, unquote(raw_path)}
    return sorted((p for p in parts if len(p) > 1), key=len, reverse=True)


def _token_parts(url: str) -> list[str]:
    """The path's segments and the query's values that look like tokens, longest first."""
    parsed = httpx.URL(url)
    path, _, query = parsed.raw_path.decode("ascii", errors="replace").partition("?")
    pieces = [*path.split("/"), *(pair.partition("=")[2] for pair in query.split("&"))]
    found = {v for p in pieces for v in (p, unquote(p)) if _looks_like_a_token(v)}
    return sorted(found, key=len, reverse=True)


def _looks_like_a_token(text: str) -> bool:
    if len(text) < MIN_SECRET_PART:
        return False
    return len(text) >= 16 or (any(c.isdigit() for c in text) and any(c.isalpha() for c in text))


def receiver_said(text: str, url: str) -> str:
    """Return what a receiver said, fit to store: on one line, bounded, without secrets.

    A channel URL's path and query are its secret (a Slack webhook's token is its path):
    every occurrence of the URL, its path or its query becomes the URL reduced to
    ``scheme://host``, and any token-like segment or value of them alone is masked.
    """
    parsed = httpx.URL(url)
    bare = f"{parsed.scheme}://{parsed.host}"
    text = " ".join(text.split())
    for part in _whole_parts(url):
        text = text.replace(part, bare)
    for part in _token_parts(url):
        text = text.replace(part, MASK)
    return redact(text)[:MAX_SAID_CHARS]
