"""The MCP server: an outside AI assistant's way in, under the same governance as any requester.

`server` builds the tools, `reads` and `changes` are the tools, `calls` is the one interface
they call (`Tools`) and finds the caller, `local` serves it on this database and `remote` on
a server's API (``TRIAD_URL``), `models` is what the tools take and answer, `hints` derives
the tools' annotations from the action registry, `stdio` and `http` are the transports.
"""
