"""Critical results: ``jobs.priority`` (the scheduler's early wake), ``jobs.followups`` (follow-up
recommendations, written as ServiceRequest proposals) and the table ``alerts`` (acknowledgement
watching and escalation; issue 23).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

``priority`` has a server default of 0 and ``followups`` is nullable, so existing rows need no
rewrite; ``alerts`` is new.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.add_column("jobs", sa.Column("followups", sa.JSON(), nullable=True))
    op.create_index("ix_jobs_state_priority", "jobs", ["state", "priority"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("report_key", sa.String(length=512), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("escalate_to", sa.JSON(), nullable=False),
        sa.Column("recipient_key", sa.String(length=80), nullable=False),
        sa.Column("recipient", sa.String(length=256), nullable=True),
        sa.Column("communication", sa.String(length=128), nullable=False),
        sa.Column("within_minutes", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("check_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_state_check", "alerts", ["state", "check_at"], unique=False)
    op.create_index("ix_alerts_report_key", "alerts", ["report_key"], unique=False)
    op.create_index(op.f("ix_alerts_job_id"), "alerts", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_job_id"), table_name="alerts")
    op.drop_index("ix_alerts_report_key", table_name="alerts")
    op.drop_index("ix_alerts_state_check", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_jobs_state_priority", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("followups")
        batch.drop_column("priority")
