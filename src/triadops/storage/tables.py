"""SQLAlchemy tables: the one description of what triadops stores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from triadops.storage.types import Json, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for migrations."""

    metadata = MetaData(naming_convention=NAMING)


class OperationRow(Base):
    """An operation: request, plan, results, state and the worker lease on it."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    operation_type: Mapped[str] = mapped_column(String(32))
    procedure: Mapped[str | None] = mapped_column(String(100))
    requested_by: Mapped[str] = mapped_column(String(100))
    via: Mapped[str | None] = mapped_column(String(100))
    """The client it came through (``mcp:<assistant>``), as that client says: descriptive
    only; who asked is `requested_by`, the token's principal."""
    request: Mapped[dict[str, Any]] = mapped_column(Json)
    plan: Mapped[dict[str, Any] | None] = mapped_column(Json)
    plan_hash: Mapped[str | None] = mapped_column(String(64))
    plan_author: Mapped[str | None] = mapped_column(String(100))
    """Who wrote the current plan (the requester, or whoever last amended it): never its
    approver."""
    approved_plan_hash: Mapped[str | None] = mapped_column(String(64))
    """The plan hash the approval covered; the executive runs only a plan that hashes to it."""
    planning_result: Mapped[dict[str, Any] | None] = mapped_column(Json)
    implementation_result: Mapped[dict[str, Any] | None] = mapped_column(Json)
    validation_result: Mapped[dict[str, Any] | None] = mapped_column(Json)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(Json)
    """Measurements the judiciary took before execution, to compare with after."""
    status_reason: Mapped[str | None] = mapped_column(Text)
    scheduled_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approval_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledgement_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledgement_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested_by: Mapped[str | None] = mapped_column(String(100))
    """Set when someone cancels a running operation; honoured at the next step boundary."""
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    """The crown principal who recorded the post-change review; None until one did."""
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_lessons: Mapped[str | None] = mapped_column(Text)
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(None, "status", "scheduled_time"),
        Index(None, "created_at"),
        # The listings' filters, newest first, stay an index walk however long the history.
        Index(None, "status", "created_at"),
        Index(None, "operation_type", "created_at"),
        # /metrics counts by (status, type) from this index alone, never the rows.
        Index(None, "status", "operation_type"),
        # Emergencies under the crown (the rows with a deadline) are claimed first: the
        # worker's claim finds them, or that there are none, without a walk of the queue.
        Index(None, "acknowledgement_deadline"),
        # A procedure's completed runs, newest first, give the expected duration.
        Index(None, "procedure", "status", "created_at"),
    )


class StepRow(Base):
    """One step's record: the unit of at-most-once execution."""

    __tablename__ = "steps"

    operation_id: Mapped[str] = mapped_column(
        ForeignKey("operations.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    output: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    rollback_output: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    rollback_error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    """The last progress its action reported (``StepProgress``); telemetry, not a ledger
    fact: written in short transactions of its own while the step runs."""


class ApprovalRow(Base):
    """A decision bound to the hash of the plan it saw."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operation_id: Mapped[str] = mapped_column(
        ForeignKey("operations.id", ondelete="CASCADE"), index=True
    )
    approver: Mapped[str] = mapped_column(String(100))
    authority: Mapped[str] = mapped_column(String(32))
    plan_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerRow(Base):
    """One link of the crown's hash chain; rows are only ever inserted."""

    __tablename__ = "ledger"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(50))
    operation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(Json)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerHeadRow(Base):
    """The chain's tip; locking this one row serialises appends across workers."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class CrownStateRow(Base):
    """Crown-held switches, such as the freeze."""

    __tablename__ = "crown_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    frozen_by: Mapped[str | None] = mapped_column(String(100))
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    freeze_reason: Mapped[str | None] = mapped_column(Text)


class PrincipalRow(Base):
    """A person, service or agent that acts; tokens belong to one."""

    __tablename__ = "principals"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TokenRow(Base):
    """An API bearer token, stored as a hash only, belonging to one principal."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    principal: Mapped[str] = mapped_column(ForeignKey("principals.name"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[list[str]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleSessionRow(Base):
    """A web console sign-in: the hash of its secret id, the token it was made from, its end.

    Only the hash is kept, so a database read cannot ride a session. The token is named, not
    copied: its revocation ends the session at its next request.
    """

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_name: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


OWN_RETENTION_TABLES = frozenset({"audit_logs"})
"""Tables of triad's own database that hold retention data; every other one is governance
(the record of who may do what and what was done) and is never purged, except
``console_sessions``, sign-ins the console itself ends (sign-out, expiry), never by a purge."""


class AuditLogRow(Base):
    """The API's access record (who called what, how it went); unlike the ledger, purged.

    Written by `api.access.AccessLog`, never with a body, a token or a query string.
    """

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    """The principal the request proved, or ``-`` when it proved none."""
    action: Mapped[str] = mapped_column(String(200))
    """The method and the route's template (``GET /operations/{operation_id}``)."""
    detail: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    method: Mapped[str | None] = mapped_column(String(16))
    path: Mapped[str | None] = mapped_column(String(200))
    """The path as asked, without its query string."""
    status: Mapped[int | None] = mapped_column(Integer)
    """The answer's status; None when none was sent (the client went away)."""
    latency_s: Mapped[float | None] = mapped_column(Float)
    request_id: Mapped[str | None] = mapped_column(String(64))


class BaselineRow(Base):
    """A stored performance baseline, such as database round-trip latency."""

    __tablename__ = "baselines"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlertRow(Base):
    """One alert instance: raised, repeated (count, last_seen), acknowledged, resolved.

    At most one unresolved alert per fingerprint (a partial unique index): a repeat updates it.
    After it resolves, the same labels firing again open a new row.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    alertname: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(Json)
    annotations: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    source: Mapped[str] = mapped_column(String(32))
    """How it came: ``health``, ``api`` (POST /alerts), ``alertmanager``, ``triad``."""
    raised_by: Mapped[str | None] = mapped_column(String(100))
    """The principal that raised it: only it may resolve it or change what it says by posting.
    A flood of one principal's alerts is notified as one, never mixed with another's.
    None for alerts stored before this was kept (only resolved by hand)."""
    group_key: Mapped[str] = mapped_column(String(500))
    count: Mapped[int] = mapped_column(Integer, default=1)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When given by the source: the alert resolves by itself once this passes."""
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    silence_id: Mapped[str | None] = mapped_column(String(36))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    """How many times escalation re-notified it (emergency: then the fallback)."""
    ack_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Emergency alerts: when an unacknowledged alert is re-notified or escalated."""
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    generator_url: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "uq_alerts_active_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
        # With id last, a listing by state and severity walks it newest first on PostgreSQL
        # too (SQLite appends the rowid to every index anyway).
        Index(None, "state", "severity", "id"),
        Index(None, "group_key", "state"),
        Index(None, "group_key", "resolved_at"),
        Index(None, "starts_at"),
    )


class SilenceRow(Base):
    """Mutes the alerts its matchers select, from ``starts_at`` until ``ends_at`` at latest."""

    __tablename__ = "silences"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """Every silence ends: none is open-ended, change-linked ones included."""
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_by: Mapped[str | None] = mapped_column(String(100))
    operation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    """Set on a change-linked silence: the operation whose execution it covers."""

    __table_args__ = (Index(None, "expired_at", "ends_at"),)


class AlertGroupRow(Base):
    """A notification group: alerts sharing the ``group_by`` labels are notified together."""

    __tablename__ = "alert_groups"

    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    labels: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_flush_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """When the group is next looked at: group wait, then group interval."""
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_digest: Mapped[str | None] = mapped_column(String(64))
    """A digest of the alerts (and states) last notified: unchanged waits for the repeat."""


class NotificationRow(Base):
    """One delivery to one channel: queued, claimed by one sender, then sent or failed."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(100))
    authority: Mapped[str | None] = mapped_column(String(32))
    group_key: Mapped[str | None] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(32))
    """``firing``, ``resolved``, ``repeat``, ``reminder`` (no acknowledgement) or ``fallback``."""
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Claimed lowest first: severity first (emergency 0 … info 6), a flood's digest one later
    than its severity's own deliveries; then age."""
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))
    """``pending``, ``sent`` or ``failed`` (out of attempts)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        # The claim walks one priority at a time, oldest due first, through this index.
        Index(None, "status", "priority", "next_attempt_at"),
        # An alert's page reads its group's deliveries, newest first, however many there are.
        Index(None, "group_key", "created_at"),
    )


class HealthReportRow(Base):
    """A stored health report; only the newest ``health_history`` are kept."""

    __tablename__ = "health_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    report: Mapped[dict[str, Any]] = mapped_column(Json)


class SecurityReportRow(Base):
    """A security audit's report (``security.audit``); the newest ``KEEP`` are kept."""

    __tablename__ = "security_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    step_key: Mapped[str] = mapped_column(String(200), unique=True)
    """The step's idempotency key: a resumed step replaces its own report."""
    operation_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    report: Mapped[dict[str, Any]] = mapped_column(Json)


class BackupRow(Base):
    """A complete backup: its manifest, and its last passed recovery test (a ledger fact)."""

    __tablename__ = "backups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(100))
    step_key: Mapped[str] = mapped_column(String(200), unique=True)
    """The step's idempotency key: a resumed backup step replaces its own backup."""
    operation_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float] = mapped_column(Float)
    checksum: Mapped[str] = mapped_column(String(64))
    """The manifest's sha256, which covers every file's."""
    manifest: Mapped[dict[str, Any]] = mapped_column(Json)
    tested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When a recovery test last passed; set only with its ``backup_restore_tested`` entry."""
    tested_checksum: Mapped[str | None] = mapped_column(String(64))
    tested_by: Mapped[str | None] = mapped_column(String(64))
    """The operation whose recovery test passed."""


class WorkerRow(Base):
    """A worker's heartbeat: branch availability is read from who beat recently."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_beat: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LeaderLeaseRow(Base):
    """A named lease one worker holds at a time (the monitoring loop's leader)."""

    __tablename__ = "leader_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StageTotalRow(Base):
    """Running totals of one branch's stages, folded from the ledger (``/metrics``, health).

    ``buckets`` holds cumulative counts per upper bound, as a Prometheus histogram does.
    """

    __tablename__ = "stage_totals"

    branch: Mapped[str] = mapped_column(String(32), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    sum_s: Mapped[float] = mapped_column(Float, default=0.0)
    buckets: Mapped[list[int]] = mapped_column(Json)


class CursorRow(Base):
    """How far a fold over the ledger has read (the seq of its last entry)."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AgentCallRow(Base):
    """One call to an agent's model: its outcome, latency and tokens (newest kept only).

    ``/agents/health`` reads the recent window through (agent, at), whatever is kept.
    """

    __tablename__ = "agent_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(300))
    operation_id: Mapped[str | None] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    latency_s: Mapped[float] = mapped_column(Float)
    requests: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index(None, "agent", "at"),)


class AgentTotalRow(Base):
    """Running totals per agent, model and outcome: what ``/metrics`` counts, in one read."""

    __tablename__ = "agent_totals"

    agent: Mapped[str] = mapped_column(String(16), primary_key=True)
    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    """``ok`` or ``failed``."""
    calls: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    latency_s: Mapped[float] = mapped_column(Float)


class GovernanceRow(Base):
    """The settings that decide governance, as the database's writers must all apply them."""

    __tablename__ = "governance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """Always 1: one governance per database."""
    settings: Mapped[dict[str, Any]] = mapped_column(Json)
    """The governing settings (`Settings.governance`), flattened to dotted keys."""
    hash: Mapped[str] = mapped_column(String(64))
    """sha256 of their canonical JSON."""
    set_by: Mapped[str] = mapped_column(String(200))
    """Which process stored them (``triad serve on host``)."""
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MaintenanceTaskRow(Base):
    """A routine task's stored state: when it is next due and how its runs went.

    The task itself (procedure, schedule) is settings; a row exists once the scheduler has
    seen the task. Claiming a due run moves ``next_due`` by compare-and-set, in the
    transaction that stores the run's operation, so one run is submitted once.
    """

    __tablename__ = "maintenance_tasks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_due: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When its last run was submitted."""
    last_operation_id: Mapped[str | None] = mapped_column(String(64))
    last_result: Mapped[str | None] = mapped_column(String(32), index=True)
    """``pending`` until the run's operation ends, then its final status."""
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    """Held after ``max_failures`` failed runs in a row, until a person resumes it."""
    missed_total: Mapped[int] = mapped_column(Integer, default=0)
    """Occurrences missed since the task was first seen: only ever goes up."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UsageBucketRow(Base):
    """Triad's own load in one 5-minute bucket: API requests or operations submitted.

    Each API process adds its own counts (an increment, never an overwrite), so several
    processes serving one database sum up. The monitor prunes buckets past
    ``usage.keep_days``.
    """

    __tablename__ = "usage_buckets"

    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    """The bucket's start (UTC, on a 5-minute boundary)."""
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    """``api`` (requests answered) or ``operations`` (operations submitted)."""
    count: Mapped[int] = mapped_column(Integer)


class PerformanceReportRow(Base):
    """A stored ``performance.analysis`` report; only the newest few are kept."""

    __tablename__ = "performance_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    operation_id: Mapped[str] = mapped_column(String(64))
    regressions: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(Json)
    """The whole report (`domain.baselines.PerformanceReport`) as JSON."""


class IncidentRow(Base):
    """A troubleshooting run's incident report: diagnosis, resolution, validation, timeline."""

    __tablename__ = "incidents"
    __table_args__ = (Index(None, "runbook", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    runbook: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    operation_id: Mapped[str | None] = mapped_column(String(64))
    """The resolution's operation, if one was submitted."""
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The alert whose firing started it (one incident per alert), if one did."""
    report: Mapped[dict[str, Any]] = mapped_column(Json)


class StandardChangeRow(Base):
    """A plan's success record and its standing with the legislature (a standard change)."""

    __tablename__ = "standard_changes"

    plan_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    """What the plan is, for people: ``procedure:<name>`` or its actions."""
    standing: Mapped[str] = mapped_column(String(16), index=True)
    streak: Mapped[int] = mapped_column(Integer)
    successes: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    last_operation_id: Mapped[str | None] = mapped_column(String(64))
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
