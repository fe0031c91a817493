"""Linkage output: runs, persons, record-to-person mapping, households, mothers, review pairs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAYLOAD = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_PERSON_ID = sa.String(length=64)
_RECORD_KEY = sa.String(length=256)


def upgrade() -> None:
    op.create_table(
        "linkage_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settings_name", sa.String(length=128), nullable=True),
        sa.Column("settings_version", sa.String(length=64), nullable=True),
        sa.Column("settings_sha256", sa.String(length=64), nullable=True),
        sa.Column("report", _PAYLOAD, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_run")),
    )
    op.create_table(
        "person",
        sa.Column("person_id", _PERSON_ID, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["linkage_run.id"], name=op.f("fk_person_run_id_linkage_run")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person")),
    )
    op.create_index(op.f("ix_person_run_id"), "person", ["run_id"])
    op.create_table(
        "person_record",
        sa.Column("record_key", _RECORD_KEY, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("municipality", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("id_kind", sa.String(length=32), nullable=False),
        sa.Column("local_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", _PERSON_ID, nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.person_id"], name=op.f("fk_person_record_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["linkage_run.id"], name=op.f("fk_person_record_run_id_linkage_run")
        ),
        sa.PrimaryKeyConstraint("record_key", name=op.f("pk_person_record")),
    )
    op.create_index(
        op.f("ix_person_record_municipality_id_kind_local_id"),
        "person_record",
        ["municipality", "id_kind", "local_id"],
    )
    op.create_index(op.f("ix_person_record_person_id"), "person_record", ["person_id"])
    op.create_index(op.f("ix_person_record_run_id"), "person_record", ["run_id"])
    op.create_table(
        "household_link",
        sa.Column("person_id", _PERSON_ID, nullable=False),
        sa.Column("household_key", sa.String(length=96), nullable=False),
        sa.Column("household_id", _PERSON_ID, nullable=False),
        sa.Column("municipality", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.person_id"], name=op.f("fk_household_link_person_id_person")
        ),
        sa.PrimaryKeyConstraint("person_id", "household_key", name=op.f("pk_household_link")),
    )
    op.create_index(op.f("ix_household_link_household_id"), "household_link", ["household_id"])
    op.create_table(
        "family_link",
        sa.Column("child_person_id", _PERSON_ID, nullable=False),
        sa.Column("mother_person_id", _PERSON_ID, nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_person_id"],
            ["person.person_id"],
            name=op.f("fk_family_link_child_person_id_person"),
        ),
        sa.ForeignKeyConstraint(
            ["mother_person_id"],
            ["person.person_id"],
            name=op.f("fk_family_link_mother_person_id_person"),
        ),
        sa.PrimaryKeyConstraint("child_person_id", "mother_person_id", name=op.f("pk_family_link")),
    )
    op.create_index(op.f("ix_family_link_mother_person_id"), "family_link", ["mother_person_id"])
    op.create_table(
        "review_pair",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_key_l", _RECORD_KEY, nullable=False),
        sa.Column("record_key_r", _RECORD_KEY, nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["linkage_run.id"], name=op.f("fk_review_pair_run_id_linkage_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_pair")),
        sa.UniqueConstraint(
            "record_key_l", "record_key_r", name=op.f("uq_review_pair_record_key_l_record_key_r")
        ),
    )
    op.create_index(op.f("ix_review_pair_run_id"), "review_pair", ["run_id"])
    op.create_index(op.f("ix_review_pair_status"), "review_pair", ["status"])


def downgrade() -> None:
    op.drop_table("review_pair")
    op.drop_table("family_link")
    op.drop_table("household_link")
    op.drop_table("person_record")
    op.drop_table("person")
    op.drop_table("linkage_run")
