"""codes: the 「联系我」 / 「加入群聊」 codes and group welcome templates made in WeCom, and
the state of each join through a join way

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:00:00

`wecom_code` is what `python -m bot codes sync` diffs the operator files against;
`group_join_state` attributes a group join to the store and channel of its join code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wecom_code",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config_id", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("state", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("qr_code", sa.String(), nullable=False, server_default=""),
        sa.Column("store_id", sa.String(length=16), nullable=True),
        sa.Column("store_name", sa.String(), nullable=False, server_default=""),
        sa.Column("channel", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("spec_hash", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("body", sa.String(), nullable=False, server_default=""),
        sa.Column("notified_hash", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="creating"),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_wecom_code_state", "wecom_code", ["state"])
    op.create_index("ix_wecom_code_store_id", "wecom_code", ["store_id"])
    op.create_table(
        "group_join_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("joined_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("recorded_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id", "member_id", "joined_at", name="uq_group_join_state"),
    )
    op.create_index("ix_group_join_state_chat_id", "group_join_state", ["chat_id"])
    op.create_index("ix_group_join_state_store_id", "group_join_state", ["store_id"])


def downgrade() -> None:
    op.drop_index("ix_group_join_state_store_id", table_name="group_join_state")
    op.drop_index("ix_group_join_state_chat_id", table_name="group_join_state")
    op.drop_table("group_join_state")
    op.drop_index("ix_wecom_code_store_id", table_name="wecom_code")
    op.drop_index("ix_wecom_code_state", table_name="wecom_code")
    op.drop_table("wecom_code")
