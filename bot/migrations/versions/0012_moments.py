"""moments: moment tasks and each staff member's part

Revision ID: 0012_moments
Revises: 0011
Create Date: 2026-12-03 17:30:00

One row per add_moment_task of an outbox send (its jobid, then its moment_id) and one per
staff member who is to post it (bot/moments/tables.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_moments"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moment_task",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("jobid", sa.String(length=64), nullable=False),
        sa.Column("moment_id", sa.String(length=128), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=False),
        sa.Column("invalid_senders", sa.String(), nullable=False),
        sa.Column("invalid_tags", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("result_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("send_id"),
    )
    op.create_table(
        "moment_staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("posted_seen_at", sa.Float(), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("reminded_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("send_id", "userid", name="uq_moment_staff"),
    )
    op.create_index("ix_moment_staff_send_id", "moment_staff", ["send_id"])


def downgrade() -> None:
    op.drop_index("ix_moment_staff_send_id", table_name="moment_staff")
    op.drop_table("moment_staff")
    op.drop_table("moment_task")
