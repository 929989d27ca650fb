"""Canonical JSON and the hash that links one ledger entry to the one before it."""

from __future__ import annotations

import hashlib
import json
import math
from json.encoder import encode_basestring
from typing import Any, Final

import orjson

try:
    from _json import make_encoder as _make_encoder
except ImportError:  # no C accelerator: json's Python encoder, through _CANONICAL
    _make_encoder = None  # type: ignore[assignment,misc]

GENESIS_HASH = "0" * 64

_CANONICAL: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
"""What ``json.dumps`` builds on every call with these arguments, built once."""

_ONE_SHOT: Final = (
    None
    if _make_encoder is None
    else _make_encoder(None, str, encode_basestring, None, ":", ",", True, False, True)
)
"""The C encoder ``_CANONICAL.encode`` builds on every call, built once: the same
arguments (markers, default, string encoder, indent, separators, sort_keys, skipkeys,
allow_nan), except that it does not look for reference cycles (a cycle is a
RecursionError, not a ValueError)."""


def canonical_json(value: Any) -> str:
    """Serialise with sorted keys and no spaces, so equal data gives equal text."""
    if _ONE_SHOT is None:
        return _CANONICAL.encode(value)
    return "".join(_ONE_SHOT(value, 0))


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """Return sha256 over the previous hash and the entry's canonical JSON."""
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


def plan_hash(binding: dict[str, Any]) -> str:
    """Return the sha256 an approval is bound to."""
    return hashlib.sha256(canonical_json(binding).encode()).hexdigest()


class _DecodedFloat(float):
    """A float read from stored JSON: orjson hands it to :func:`_as_json` to write it."""

    __slots__ = ()


def _as_json(value: Any) -> orjson.Fragment:
    """Write a decoded float exactly as json does (``float.__repr__``; NaN, Infinity)."""
    if not isinstance(value, _DecodedFloat):
        raise TypeError(f"{type(value).__name__} is left to json")
    if value != value:
        return orjson.Fragment(b"NaN")
    if value in (math.inf, -math.inf):
        return orjson.Fragment(b"Infinity" if value > 0 else b"-Infinity")
    return orjson.Fragment(float.__repr__(value))


class StoredLinkHasher:
    """Hash links read back with their details as JSON text: ``link_hash``'s digest, faster.

    Each entry's details are decoded once, by json's own scanner, so the values are what
    ``json.loads`` gives, floats as a float subclass. Bodies are encoded by orjson, which
    writes ``canonical_json``'s exact bytes for str (any code point: neither escapes
    non-ASCII), int within 64 bits, bool, None, lists and dicts with str keys. It writes
    floats its own way (``1e-7`` for ``1e-07``, ``null`` for NaN), so the decoded ones are
    handed back to be written as json writes them; anything else orjson refuses (a wider
    int, a float that was not decoded here) is encoded by ``canonical_json`` instead.
    """

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = json.JSONDecoder(
            parse_float=_DecodedFloat, parse_constant=lambda name: _DecodedFloat(name)
        )

    def decode(self, text: str) -> Any:
        """Decode JSON as ``json.loads`` does, floats as the subclass ``digest`` knows."""
        if text == "{}":
            return {}  # most entries' details
        try:
            value, end = self._decoder.raw_decode(text)  # no whitespace skipped: the usual
        except json.JSONDecodeError:
            end = -1
        if end == len(text):
            return value
        return self._decoder.decode(text)  # whitespace around it, or no JSON: json's rules

    @staticmethod
    def digest(prev_hash: str, body: dict[str, Any]) -> str | None:
        r"""Return ``link_hash(prev_hash, body)``, or None if the body cannot be encoded.

        Exact for a body whose nested values :meth:`decode` made; a float among its own
        fields sends it all to json. A body no writer could have hashed (a lone surrogate,
        from a forged escape such as ``"\ud800"``) has no digest.
        """
        encoded: bytes | None = None
        if float not in map(type, body.values()):
            try:
                encoded = orjson.dumps(body, default=_as_json, option=orjson.OPT_SORT_KEYS)
            except orjson.JSONEncodeError:
                encoded = None  # an int wider than 64 bits, a lone surrogate: json decides
        try:
            if encoded is None:
                encoded = canonical_json(body).encode()
            return hashlib.sha256(prev_hash.encode() + encoded).hexdigest()
        except UnicodeEncodeError:
            return None
