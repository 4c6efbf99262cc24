"""console rollups: per group and day, per store, channel and day, WeCom's owner figures

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:00:00

The operations console reads these daily rollups, never the raw logs (bot/console/).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


_BY_TIME = (("group_member_log", "at"), ("welcome", "at"), ("outbox_delivery", "slot_at"),
            ("owner_post", "posted_at"), ("owner_post", "slot_at"))


def _counts(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name in names]


def upgrade() -> None:
    op.create_table(
        "console_group_day",
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("store_id", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("owner", sa.String(length=64), nullable=False, server_default=""),
        *_counts("members", "joins", "leaves", "removals", "rejoins", "top_inviter_joins",
                 "owner_posts", "owner_posts_due", "sent", "in_progress", "held", "failed",
                 "unsent"),
        sa.PrimaryKeyConstraint("chat_id", "day"),
    )
    op.create_index("ix_console_group_day_store_day", "console_group_day", ["store_id", "day"])
    op.create_index("ix_console_group_day_day", "console_group_day", ["day"])
    op.create_table(
        "console_channel_day",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("store_id", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        *_counts("scans", "welcomed", "tagged", "joined"),
        sa.Column("stayed_7", sa.Integer(), nullable=True),
        sa.Column("stayed_30", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("day", "store_id", "channel"),
    )
    op.create_index("ix_console_channel_day_day", "console_channel_day", ["day"])
    op.create_index("ix_console_channel_day_store_day", "console_channel_day",
                    ["store_id", "day"])
    op.create_table(
        "wecom_owner_day",
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        *_counts("new_chat_cnt", "chat_total", "chat_has_msg", "new_member_cnt",
                 "member_total", "member_has_msg", "msg_total"),
        sa.Column("fetched_at", sa.Float(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("owner", "day"),
    )
    op.create_index("ix_wecom_owner_day_day", "wecom_owner_day", ["day"])
    op.create_table(
        "console_group_health",
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("owner", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("name", sa.String(), nullable=False, server_default=""),
        sa.Column("health", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        *_counts("members", "joins", "leaves", "removals", "owner_posts"),
        sa.Column("as_of", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.create_index("ix_console_group_health_store", "console_group_health",
                    ["store_id", "health"])
    op.create_index("ix_console_group_health_health", "console_group_health", ["health"])
    # a day's rollup reads the raw tables by time: without these it would scan them whole
    for table, column in _BY_TIME:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in _BY_TIME:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    op.drop_table("console_group_health")
    op.drop_table("wecom_owner_day")
    op.drop_table("console_channel_day")
    op.drop_table("console_group_day")
