"""owner posts: SOP messages each group's owner posts from the sidebar

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:00:00

`via: owner_post` SOPs are not 群发: at the slot the bot records, per group, the message the
owner is to post (`owner_post`, due -> posted), and reminds each owner once by app message
(an `outbox_send` row with via `owner_remind`, claimed before the call like every send).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "owner_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("sop", sa.String(length=64), nullable=False),
        sa.Column("slot_at", sa.Float(), nullable=False),
        sa.Column("slot_local", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.String(length=16), nullable=True),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("posted_at", sa.Float(), nullable=True),
        sa.Column("posted_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slot_id", "chat_id", name="uq_owner_post_slot_chat"),
    )
    op.create_index("ix_owner_post_chat_slot", "owner_post", ["chat_id", "slot_at"])


def downgrade() -> None:
    op.drop_index("ix_owner_post_chat_slot", table_name="owner_post")
    op.drop_table("owner_post")
