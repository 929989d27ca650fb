"""Log analysis: counts, error templates, trend, bursts and insights over triad's own logs and the services' (issue 21, item 2)."""
