"""triadops: an operations control plane where every change passes four separated powers."""

import os

# Logfire (installed with the agents) registers a pydantic plugin that pydantic loads at the
# first model it builds: a quarter of a second on every start, for validation tracing that
# triadops never turns on. Its spans come from `triadops.tracing` instead. Set
# PYDANTIC_DISABLE_PLUGINS yourself (even to "") to decide otherwise.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "logfire-plugin")
