"""Who pushed a job: ``jobs.client``, and an index for the per-client queue quota (issue 20).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

The column is nullable: jobs recorded before it existed, and jobs from pull mode or an intake in
open (development) mode, have no client and count against no quota.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column without a default: no table rewrite on SQLite or PostgreSQL.
    op.add_column("jobs", sa.Column("client", sa.String(length=64), nullable=True))
    op.create_index("ix_jobs_client_state", "jobs", ["client", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_client_state", table_name="jobs")
    # batch mode: SQLite before 3.35 has no DROP COLUMN (alembic copies the table there).
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("client")
