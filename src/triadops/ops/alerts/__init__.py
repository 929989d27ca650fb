"""Alerts: dedup, grouping, silences, escalation through the branches, notifiers."""
