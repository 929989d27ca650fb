"""Operations around the pipeline: health monitoring and alerts.

They sit above the constitution: every change they make is a ledger event or an operation
through it. Maintenance, backups, logs and runbooks join them later.
"""
