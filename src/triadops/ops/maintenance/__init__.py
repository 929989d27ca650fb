"""Maintenance as a feature: its calendar of windows and blackouts, and triad's usage upkeep."""
