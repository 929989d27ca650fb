"""``triad mcp``: an MCP server through which an AI assistant asks, never decides.

It is one more client of the same governance: each tool calls the services the API's
routes call, as the principal of the token it was given. Over stdio the token is
``TRIAD_TOKEN`` (required); over streamable HTTP every request carries its own bearer
token, and the server listens on loopback unless told otherwise.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from triadops.mcp.calls import Tools
from triadops.mcp.changes import add_changes
from triadops.mcp.reads import add_reads

NAME = "triadops"
INSTRUCTIONS = (
    "triadops governs changes to running systems. You may read procedures, health, alerts and "
    "operations, and submit, amend or cancel operations as the principal of your token. A "
    "submission is reviewed like any other: it may be rejected, or wait for approval by a "
    "person; you cannot approve, reject, acknowledge or unfreeze anything."
)


def build_server(tools: Tools) -> MCPServer:
    """Return an MCP server whose tools work through `tools` (this database, or a server)."""
    server: MCPServer = MCPServer(
        NAME,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    add_reads(server, tools)
    add_changes(server, tools)
    return server
