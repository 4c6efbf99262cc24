"""replicas: liveness, claims on inbox and outbox rows, shared API quota

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:00:00

Several bot processes on one PostgreSQL database need to know who is alive (`bot_replica`),
who is working on which event or call (`claimed_by`), so a survivor takes over only what a
dead replica left, and how much of WeCom's per-API quota the whole deployment has used
(`api_quota`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_replica",
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False, server_default=""),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False, server_default="follower"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inbox_event") as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=96), nullable=True))
    with op.batch_alter_table("outbox_send") as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=96), nullable=True))
    op.create_table(
        "api_quota",
        sa.Column("api", sa.String(length=96), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("api", "window_s", "window_start"),
    )


def downgrade() -> None:
    op.drop_table("api_quota")
    with op.batch_alter_table("outbox_send") as batch_op:
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("inbox_event") as batch_op:
        batch_op.drop_column("claimed_by")
    op.drop_table("bot_replica")
