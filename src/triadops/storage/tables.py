"""SQLAlchemy tables: the one description of what triadops stores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, MetaData, String, Text
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(None, "status", "scheduled_time"),
        Index(None, "created_at"),
        # The listings' filters, newest first, stay an index walk however long the history.
        Index(None, "status", "created_at"),
        Index(None, "operation_type", "created_at"),
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


OWN_RETENTION_TABLES = frozenset({"audit_logs"})
"""Tables of triad's own database that hold retention data; every other one is governance
(the record of who may do what and what was done) and is never purged."""


class AuditLogRow(Base):
    """Access records (who called what); unlike the ledger these may be purged."""

    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class BaselineRow(Base):
    """A stored performance baseline, such as database round-trip latency."""

    __tablename__ = "baselines"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime)
