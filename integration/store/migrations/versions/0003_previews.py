"""Preview requests: the table ``previews`` ($preview runs in ``radlite worker``, not in the web
process; issue 20).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

A new table only: nothing is rewritten. Its rows live seconds (deleted when their request has its
answer or stops waiting), so the downgrade simply drops it.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "previews",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_previews_state_created", "previews", ["state", "created_at"], unique=False)
    op.create_index("ix_previews_expires", "previews", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_previews_expires", table_name="previews")
    op.drop_index("ix_previews_state_created", table_name="previews")
    op.drop_table("previews")
