"""Shared fixtures: real SQLite files and real PostgreSQL databases, one fresh per test."""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.pipeline",
    "tests.fixtures.api",
    "tests.fixtures.clock",
]
