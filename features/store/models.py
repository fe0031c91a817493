"""Tables of the store (SQLAlchemy 2.0 typed ORM): ingested records and linkage output.

The schema is owned by the Alembic migrations in `features/store/migrations/`; a test checks
that they and this metadata agree. These classes are storage rows only: the reader's
`LoadedRow`, the run's `IngestReport` and linkage's `LinkageResult` are the domain objects.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "FamilyLink",
    "HouseholdLink",
    "IngestRun",
    "LinkageRun",
    "Person",
    "PersonRecord",
    "Quarantine",
    "ReviewPair",
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


# -- linkage ---------------------------------------------------------------------------------
#
# person, person_record, household_link and family_link hold the output of the latest
# successful linkage run only: a run replaces them in one transaction. review_pair outlives
# runs, because reviewers' decisions are the input of every later run.

_PERSON_ID = String(64)
_RECORD_KEY = String(256)


class LinkageRun(Base):
    """One invocation of `run_linkage`; `status` is running, succeeded or failed."""

    __tablename__ = "linkage_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    settings_name: Mapped[str | None] = mapped_column(String(128))
    settings_version: Mapped[str | None] = mapped_column(String(64))
    settings_sha256: Mapped[str | None] = mapped_column(String(64))
    report: Mapped[dict[str, Any] | None] = mapped_column(Payload)
    error: Mapped[str | None] = mapped_column(Text)


class Person(Base):
    """One linked person (pseudonymous person_id) of the latest linkage run."""

    __tablename__ = "person"

    person_id: Mapped[str] = mapped_column(_PERSON_ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("linkage_run.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))


class PersonRecord(Base):
    """Which person an identity record belongs to, and the strongest link that holds it there."""

    __tablename__ = "person_record"
    __table_args__ = (Index(None, "municipality", "id_kind", "local_id"),)

    record_key: Mapped[str] = mapped_column(_RECORD_KEY, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("linkage_run.id"), index=True)
    municipality: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    id_kind: Mapped[str] = mapped_column(String(32))
    local_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str] = mapped_column(ForeignKey("person.person_id"), index=True)
    # NULL when the record is linked to nothing (a person of one record).
    probability: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(16))


class HouseholdLink(Base):
    """A person's registry 世帯: household_key (municipality:世帯番号) and its pseudonym."""

    __tablename__ = "household_link"

    person_id: Mapped[str] = mapped_column(ForeignKey("person.person_id"), primary_key=True)
    household_key: Mapped[str] = mapped_column(String(96), primary_key=True)
    household_id: Mapped[str] = mapped_column(_PERSON_ID, index=True)
    municipality: Mapped[str] = mapped_column(String(16))


class FamilyLink(Base):
    """A child and its mother, from the 出生 record naming the mother's 母子記録番号."""

    __tablename__ = "family_link"

    child_person_id: Mapped[str] = mapped_column(ForeignKey("person.person_id"), primary_key=True)
    mother_person_id: Mapped[str] = mapped_column(
        ForeignKey("person.person_id"), primary_key=True, index=True
    )
    relation: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))


class ReviewPair(Base):
    """A pair of identity records for clerical review, and the reviewer's decision.

    record_key_l < record_key_r. `status` is pending, accepted or rejected; pending pairs are
    refreshed by every run, decided ones are kept and fed back to the next run. No foreign key
    to person_record: a decision must survive the runs in which its records are absent.
    """

    __tablename__ = "review_pair"
    __table_args__ = (UniqueConstraint("record_key_l", "record_key_r"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_key_l: Mapped[str] = mapped_column(_RECORD_KEY)
    record_key_r: Mapped[str] = mapped_column(_RECORD_KEY)
    # NULL for a pair a reviewer raised without the model proposing it.
    probability: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("linkage_run.id"), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
