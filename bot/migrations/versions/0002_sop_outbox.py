"""SOP slots, outbox sends and per-group deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sop_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop", sa.String(length=64), nullable=False),
        sa.Column("slot_at", sa.Float(), nullable=False),
        sa.Column("slot_local", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=False),
        sa.Column("late_s", sa.Float(), nullable=False, server_default="0"),
        sa.Column("groups", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("held", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("note", sa.String(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sop", "slot_at", name="uq_sop_slot"),
    )
    op.create_table(
        "outbox_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=192), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("robot", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("store_id", sa.String(length=16), nullable=True),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("msgid", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("reminders", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_outbox_send_slot_id", "outbox_send", ["slot_id"])
    op.create_index("ix_outbox_send_status_next", "outbox_send", ["status", "next_at"])
    op.create_table(
        "outbox_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("slot_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slot_id", "chat_id", name="uq_delivery_slot_chat"),
    )
    op.create_index("ix_outbox_delivery_send_id", "outbox_delivery", ["send_id"])
    # the quota count: one chat's group sends over a month
    op.create_index("ix_outbox_delivery_chat_slot", "outbox_delivery", ["chat_id", "slot_at"])
    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("bot_state")
    op.drop_table("outbox_delivery")
    op.drop_table("outbox_send")
    op.drop_table("sop_slot")
