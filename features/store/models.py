"""Tables of the ingest store (SQLAlchemy 2.0 typed ORM).

The schema is owned by the Alembic migrations in `features/store/migrations/`; a test checks
that they and this metadata agree. These classes are storage rows only: the reader's
`LoadedRow` and the run's `IngestReport` are the domain objects.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "IngestRun",
    "Quarantine",
    "SourceFile",
    "SourceRecord",
]

# Explicit constraint names, so migrations on SQLite (batch mode) and PostgreSQL agree.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere.
Payload = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits for records.
RecordId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IngestRun(Base):
    """One invocation of `ingest_extracts`; `status` is running, succeeded or failed."""

    __tablename__ = "ingest_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    extracts_root: Mapped[str] = mapped_column(Text)
    catalogue_version: Mapped[int] = mapped_column(Integer)
    catalogue_sha256: Mapped[str] = mapped_column(String(64))
    run_date: Mapped[dt.date] = mapped_column(Date)
    error: Mapped[str | None] = mapped_column(Text)


class SourceFile(Base):
    """The current version of one extract file, and how its rows were accounted for.

    One row per relative path: a changed file replaces its previous version (and records).
    """

    __tablename__ = "source_file"
    __table_args__ = (UniqueConstraint("relative_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_run.id"), index=True)
    municipality: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    relative_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    # The file is re-read when the catalogue it was read with changes, even if its bytes did not.
    catalogue_sha256: Mapped[str] = mapped_column(String(64))
    encoding: Mapped[str] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_loaded: Mapped[int] = mapped_column(Integer)
    rows_quarantined: Mapped[int] = mapped_column(Integer)


class SourceRecord(Base):
    """One loaded row, with the dates a point-in-time feature store needs."""

    __tablename__ = "source_record"
    __table_args__ = (
        Index(None, "municipality", "id_kind", "local_id"),
        Index(None, "source", "known_date"),
    )

    id: Mapped[int] = mapped_column(RecordId, primary_key=True, autoincrement=True)
    source_file_id: Mapped[int] = mapped_column(
        ForeignKey("source_file.id", ondelete="CASCADE"), index=True
    )
    municipality: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    line: Mapped[int] = mapped_column(Integer)
    id_kind: Mapped[str] = mapped_column(String(32))
    local_id: Mapped[str] = mapped_column(String(64))
    event_date: Mapped[dt.date] = mapped_column(Date)
    known_date: Mapped[dt.date] = mapped_column(Date)
    payload: Mapped[dict[str, Any]] = mapped_column(Payload)


class Quarantine(Base):
    """A row that was not loaded: where it is, why, and its text with personal data redacted."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(RecordId, primary_key=True, autoincrement=True)
    source_file_id: Mapped[int] = mapped_column(
        ForeignKey("source_file.id", ondelete="CASCADE"), index=True
    )
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    message: Mapped[str] = mapped_column(Text)
    redacted_text: Mapped[str] = mapped_column(Text)
