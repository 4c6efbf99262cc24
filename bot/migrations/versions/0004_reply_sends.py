"""Canned replies (话术) sent by staff, counted to rank the library

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reply_id", sa.String(length=64), nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # the ranking counts sends per reply
    op.create_index("ix_reply_send_reply_id", "reply_send", ["reply_id"])


def downgrade() -> None:
    op.drop_index("ix_reply_send_reply_id", table_name="reply_send")
    op.drop_table("reply_send")
