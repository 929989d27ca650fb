"""The actions that ship with triadops."""

from __future__ import annotations

from triadops.actions.backup import DatabaseBackupAction, VerifyBackupAction
from triadops.actions.backup_archives import (
    ConfigurationsBackupAction,
    LogsBackupAction,
    SystemStateBackupAction,
)
from triadops.actions.backup_commands import CommandBackupAction
from triadops.actions.backup_prune import PruneBackupsAction
from triadops.actions.cache import CleanupCacheAction
from triadops.actions.database import (
    PurgeAuditLogsAction,
    ReindexAction,
    ResetStatsAction,
    VacuumAnalyzeAction,
)
from triadops.actions.logs import PurgeLogsAction, RotateLogsAction
from triadops.actions.noop import NoopAction, NoopOnceAction
from triadops.actions.performance import PerformanceBaselineAction
from triadops.actions.performance_analysis import PerformanceAnalysisAction
from triadops.actions.registry import AnyAction
from triadops.actions.restore import RestoreAction
from triadops.actions.security import SecurityAuditAction


def builtin_actions() -> list[AnyAction]:
    """Return one instance of every built-in action."""
    return [
        NoopAction(),
        NoopOnceAction(),
        VacuumAnalyzeAction(),
        ReindexAction(),
        ResetStatsAction(),
        PurgeAuditLogsAction(),
        RotateLogsAction(),
        PurgeLogsAction(),
        CleanupCacheAction(),
        PerformanceBaselineAction(),
        SecurityAuditAction(),
        PerformanceAnalysisAction(),
        DatabaseBackupAction(),
        VerifyBackupAction(),
        PruneBackupsAction(),
        ConfigurationsBackupAction(),
        LogsBackupAction(),
        SystemStateBackupAction(),
        CommandBackupAction(),
        RestoreAction(),
    ]
