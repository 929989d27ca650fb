"""Backups: recovery tests as ledger facts, and the read models people see."""
