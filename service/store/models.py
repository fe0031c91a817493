"""Tables the scoring service owns (SQLAlchemy 2.0 typed ORM), beside the feature store's.

They live in the same database as the linked records but have their own Alembic history
(version table `alembic_version_service`), so the features package never learns about keys or
reviews and the service can be migrated on its own. The migrations under `migrations/` own the
schema; a test checks that they and this metadata agree.

Rows only: API schemas live in service/schemas, domain logic in the modules that use them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ApiKey",
    "AuditEntry",
    "ChildScore",
    "Review",
    "ScoreRun",
    "ServiceBase",
    "ThresholdPolicyVersion",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Document = JSON().with_variant(JSONB(), "postgresql")
_CHILD_ID = String(64)
_HARDSHIP = String(64)
_MUNICIPALITY = String(16)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp on every backend, read back in UTC.

    SQLite keeps no zone and hands back naive datetimes even for DateTime(timezone=True); the
    API promises RFC 3339 timestamps, so a naive value read from the database is UTC (the service
    only ever writes UTC) and is marked so.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        # SQLite would store a JST wall clock as written and read it back as UTC: convert first.
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class ServiceBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKey(ServiceBase):
    """A caller's key. Only a SHA-256 of the secret is kept: keys are 256-bit random, so a
    slow password hash would add latency to every request without adding safety."""

    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # vendor_system, reviewer, analyst or admin.
    role: Mapped[str] = mapped_column(String(16))
    # A 6-digit 地方公共団体コード; NULL means every municipality (admin keys only).
    municipality: Mapped[str | None] = mapped_column(_MUNICIPALITY)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(ServiceBase):
    """One request that touched child-level data (or tried to), hash-chained to the one before.

    entry_sha256 = SHA-256 over the previous entry's hash and this entry's canonical fields, so
    editing or deleting any entry breaks every hash after it (`mimamori audit verify`).
    """

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str | None] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(256))
    child_id: Mapped[str | None] = mapped_column(_CHILD_ID, index=True)
    municipality: Mapped[str | None] = mapped_column(_MUNICIPALITY)
    status_code: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    previous_sha256: Mapped[str] = mapped_column(String(64))
    entry_sha256: Mapped[str] = mapped_column(String(64), unique=True)


class ThresholdPolicyVersion(ServiceBase):
    """One version of the band policy of a hardship in a municipality; never updated in place."""

    __tablename__ = "threshold_policy_version"
    __table_args__ = (UniqueConstraint("hardship", "municipality", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hardship: Mapped[str] = mapped_column(_HARDSHIP)
    municipality: Mapped[str] = mapped_column(_MUNICIPALITY)
    version: Mapped[int] = mapped_column(Integer)
    # The bands as the API receives them (see service/thresholds).
    policy: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)


class ScoreRun(ServiceBase):
    """One batch scoring of every child as of a month (`mimamori score --as-of`).

    `status` is running, succeeded, failed or abandoned (still running a day later: it was
    killed). Readers only ever see succeeded runs, so a run killed midway leaves nothing a case
    conference could mistake for a result.
    """

    __tablename__ = "score_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of_month: Mapped[str] = mapped_column(String(7), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    children: Mapped[int | None] = mapped_column(Integer)
    # hardship -> registered model version, and (hardship, municipality) -> policy version.
    model_versions: Mapped[dict[str, Any]] = mapped_column(Document)
    policy_versions: Mapped[dict[str, Any] | None] = mapped_column(Document)
    # Population stability per feature and of the scores, missing-source rates, flags.
    drift: Mapped[dict[str, Any] | None] = mapped_column(Document)
    error: Mapped[str | None] = mapped_column(Text)


class ChildScore(ServiceBase):
    """A child's score for one hardship in one run."""

    __tablename__ = "child_score"
    __table_args__ = (
        Index(None, "run_id", "municipality", "hardship", "band"),
        Index(None, "child_id", "hardship"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("score_run.id"), primary_key=True)
    child_id: Mapped[str] = mapped_column(_CHILD_ID, primary_key=True)
    hardship: Mapped[str] = mapped_column(_HARDSHIP, primary_key=True)
    municipality: Mapped[str] = mapped_column(_MUNICIPALITY)
    probability: Mapped[float] = mapped_column(Float)
    percentile: Mapped[float] = mapped_column(Float)
    # high, moderate, watch, or NULL below every band.
    band: Mapped[str | None] = mapped_column(String(16))
    already_supported: Mapped[bool] = mapped_column(Boolean)
    model_version: Mapped[str] = mapped_column(String(32))
    # The top factors (feature, value, contribution) so a list can say why in one line.
    reasons: Mapped[list[Any] | None] = mapped_column(Document)


class Review(ServiceBase):
    """A reviewer's decision on a flagged child and hardship (the 2,475 -> 852 funnel)."""

    __tablename__ = "review"
    __table_args__ = (Index(None, "municipality", "hardship", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[str] = mapped_column(_CHILD_ID, index=True)
    hardship: Mapped[str] = mapped_column(_HARDSHIP)
    municipality: Mapped[str] = mapped_column(_MUNICIPALITY)
    # The run whose flag was reviewed; NULL when a reviewer records outside a run.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("score_run.id"))
    band: Mapped[str | None] = mapped_column(String(16))
    # preventive_support, monitoring, no_action or needs_information.
    decision: Mapped[str] = mapped_column(String(32))
    # For no_action: already_supported_elsewhere, data_error, over_influential_item, other.
    reason: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    reviewer_key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
