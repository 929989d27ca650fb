"""The MCP server: an outside AI assistant's way in, under the same governance as any requester.

`server` builds the tools, `reads` and `changes` are the tools, `calls` finds the caller
and meets the gates, `hints` derives the tools' annotations from the action registry,
`stdio` and `http` are the transports.
"""
