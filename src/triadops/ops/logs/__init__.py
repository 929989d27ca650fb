"""Log analysis: counts, error templates, trend, bursts and insights (issue 21, item 2)."""
