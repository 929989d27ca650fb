"""The keys the agents hold, and the one scrubber that keeps them out of what is stored.

A model's answer and a failed call's error are scrubbed before they are kept (the ledger,
``agent_calls``, alerts, logs): an endpoint that echoes the ``Authorization`` header, or a
model told to repeat its key, must not put the key where any viewer reads it forever. Two
nets: the configured values themselves (the provider variables the agents read, any other
key-named variable, the secrets in the settings), then whatever is shaped like a key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TypeVar, cast

from triadops.logconfig import MASK, redact
from triadops.settings import EmailChannel, Settings, WebhookChannel

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GROQ_API_KEY",
    "MISTRAL_API_KEY",
    "OPENROUTER_API_KEY",
    "OLLAMA_API_KEY",
    "CO_API_KEY",
    "DEEPSEEK_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "HF_TOKEN",
    "LOGFIRE_TOKEN",
    "TRIAD_TOKEN",
    "TRIAD_CHECKPOINT_KEY",
)
"""The provider keys pydantic-ai's providers read, and triad's own."""
_KEY_NAMED = re.compile(r"(?i)(?:^|_)(?:api_?key|token|secret|secret_access_key|password)$")
"""Any other variable named like a key is treated as one."""
SHORTEST_KEY = 8
"""Values shorter than this are not searched for (they would mask ordinary words)."""
V = TypeVar("V")

_PREFIXED = re.compile(
    r"\b(?:sk|rk|pk)-[A-Za-z0-9_-]{16,}"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)
    r"|\bAIza[0-9A-Za-z_-]{30,}"  # Google
    r"|\b(?:gsk|xai|hf|ghp|gho|ghs|github_pat|glpat)_[A-Za-z0-9_]{16,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
)
"""Keys recognisable by their provider's prefix, wherever they appear."""
_AFTER_A_KEY_WORD = re.compile(
    r"(?i)((?:key|token|secret|password|passwd|credential)s?[\"']?[ \t]{0,3}"
    r"(?:[:=]|is)?[ \t]{0,3}[\"']?)([A-Za-z0-9+/_.=~-]{16,})"
)
"""A long token right after a word such as key, token, secret or password (``api_key=…``,
``x-api-key: …``, ``the token is …``). No open-ended prefix: linear in the text's length."""


def _looks_random(token: str) -> bool:
    """True for a token that mixes letters and digits, as generated keys do."""
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def environment_keys() -> list[str]:
    """The values of the key variables set in this process's environment."""
    found = []
    for name, value in os.environ.items():
        if name in KEY_VARIABLES or _KEY_NAMED.search(name):
            found.append(value)
    return found


def settings_secrets(settings: Settings) -> list[str]:
    """The secrets the settings hold: the checkpoint key, signing secrets, SMTP passwords."""
    found = []
    if settings.checkpoint_key is not None:
        found.append(settings.checkpoint_key.get_secret_value())
    for channel in settings.alerts.channels.values():
        if isinstance(channel, WebhookChannel) and channel.secret is not None:
            found.append(channel.secret.get_secret_value())
        if isinstance(channel, EmailChannel) and channel.password is not None:
            found.append(channel.password.get_secret_value())
    return found


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` without NUL, any configured key or `secrets`, or anything key-shaped."""
    text = text.replace("\x00", "")
    known = {v for v in (*environment_keys(), *secrets) if len(v) >= SHORTEST_KEY}
    for value in sorted(known, key=len, reverse=True):  # a key inside a longer one: longer first
        text = text.replace(value, MASK)
    text = redact(text)
    text = _PREFIXED.sub(MASK, text)
    return _AFTER_A_KEY_WORD.sub(
        lambda m: m.group(1) + MASK if _looks_random(m.group(2)) else m.group(0), text
    )


def scrub_value(value: V, secrets: Iterable[str] = ()) -> V:
    """Return JSON-like `value` with every string in it (keys of mappings too) scrubbed."""
    kept = list(secrets)

    def clean(item: object) -> object:
        if isinstance(item, str):
            return scrub(item, kept)
        if isinstance(item, dict):
            return {clean(k): clean(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [clean(v) for v in item]
        return item

    return cast(V, clean(value))
