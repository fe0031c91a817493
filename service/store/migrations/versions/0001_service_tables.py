"""The service's tables: API keys, audit log, threshold policies, score runs, reviews.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 09:12:00.626678
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("municipality", sa.String(length=16), nullable=True),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_api_key_secret_sha256")),
    )
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("route", sa.String(length=256), nullable=False),
        sa.Column("child_id", sa.String(length=64), nullable=True),
        sa.Column("municipality", sa.String(length=16), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("previous_sha256", sa.String(length=64), nullable=False),
        sa.Column("entry_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("entry_sha256", name=op.f("uq_audit_entry_entry_sha256")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_child_id"), ["child_id"], unique=False)

    op.create_table(
        "score_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of_month", sa.String(length=7), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("children", sa.Integer(), nullable=True),
        sa.Column(
            "model_versions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "policy_versions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "drift",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_run")),
    )
    with op.batch_alter_table("score_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_score_run_as_of_month"), ["as_of_month"], unique=False)

    op.create_table(
        "threshold_policy_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hardship", sa.String(length=64), nullable=False),
        sa.Column("municipality", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "policy",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threshold_policy_version")),
        sa.UniqueConstraint(
            "hardship",
            "municipality",
            "version",
            name=op.f("uq_threshold_policy_version_hardship_municipality_version"),
        ),
    )
    op.create_table(
        "child_score",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.String(length=64), nullable=False),
        sa.Column("hardship", sa.String(length=64), nullable=False),
        sa.Column("municipality", sa.String(length=16), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("percentile", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=True),
        sa.Column("already_supported", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["score_run.id"], name=op.f("fk_child_score_run_id_score_run")
        ),
        sa.PrimaryKeyConstraint("run_id", "child_id", "hardship", name=op.f("pk_child_score")),
    )
    with op.batch_alter_table("child_score", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_child_score_child_id_hardship"), ["child_id", "hardship"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_child_score_run_id_municipality_hardship_band"),
            ["run_id", "municipality", "hardship", "band"],
            unique=False,
        )

    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.String(length=64), nullable=False),
        sa.Column("hardship", sa.String(length=64), nullable=False),
        sa.Column("municipality", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("band", sa.String(length=16), nullable=True),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewer_key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["score_run.id"], name=op.f("fk_review_run_id_score_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_child_id"), ["child_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_review_municipality_hardship_created_at"),
            ["municipality", "hardship", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_municipality_hardship_created_at"))
        batch_op.drop_index(batch_op.f("ix_review_child_id"))

    op.drop_table("review")
    with op.batch_alter_table("child_score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_child_score_run_id_municipality_hardship_band"))
        batch_op.drop_index(batch_op.f("ix_child_score_child_id_hardship"))

    op.drop_table("child_score")
    op.drop_table("threshold_policy_version")
    with op.batch_alter_table("score_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_score_run_as_of_month"))

    op.drop_table("score_run")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_child_id"))

    op.drop_table("audit_entry")
    op.drop_table("api_key")
