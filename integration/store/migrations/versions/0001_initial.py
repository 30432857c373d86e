"""The initial schema: jobs, cursors, locks (integration/store/models.py as of issue 7).

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Datetimes are stored as naive UTC (models.UTCDateTime wraps a plain DateTime); JSON columns are
JSON on both SQLite and PostgreSQL.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("report_key", sa.String(length=512), nullable=False),
        sa.Column("report_version", sa.String(length=128), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("subject_ref", sa.String(length=512), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tasks", sa.JSON(), nullable=True),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_detail", sa.JSON(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires", sa.DateTime(), nullable=True),
        sa.Column("inference_attempts", sa.Integer(), nullable=False),
        sa.Column("write_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("supersedes", sa.String(length=32), nullable=True),
        sa.Column("superseded_by", sa.String(length=32), nullable=True),
        sa.Column("written", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_key", "report_version", name="uq_job_report_version"),
    )
    op.create_index("ix_jobs_report_key", "jobs", ["report_key"], unique=False)
    op.create_index("ix_jobs_state_due", "jobs", ["state", "next_attempt_at"], unique=False)
    op.create_index("ix_jobs_subject_ref", "jobs", ["subject_ref"], unique=False)
    op.create_table(
        "locks",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_index("ix_jobs_subject_ref", table_name="jobs")
    op.drop_index("ix_jobs_state_due", table_name="jobs")
    op.drop_index("ix_jobs_report_key", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("cursors")
