"""members: till members, purchases, POS request ids, customers' unionids, answers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00

Purchases from the till (webhook or CSV import, keyed by order id) roll up into
`loyalty_member`: growth value, level and lifecycle stage, and the level and stage tags
wanted in WeCom beside those applied (the tag sync's durable queue: `tag_dirty`,
`sync_claimed_by`). See bot/members/tables.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _s(name: str, length: int, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(length=length), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "loyalty_member",
        _s("member_code", 32, nullable=False),
        _s("unionid", 64, nullable=True),
        _s("phone_hash", 64, nullable=True),
        _s("external_userid", 64, nullable=True),
        sa.Column("total_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("purchases", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_at", sa.Float(), nullable=True),
        sa.Column("last_at", sa.Float(), nullable=True),
        sa.Column("growth", sa.BigInteger(), nullable=False, server_default="0"),
        _s("level", 16, nullable=False, server_default=""),
        _s("stage", 16, nullable=False, server_default=""),
        _s("level_tag", 64, nullable=False, server_default=""),
        _s("stage_tag", 64, nullable=False, server_default=""),
        _s("level_tag_synced", 64, nullable=False, server_default=""),
        _s("stage_tag_synced", 64, nullable=False, server_default=""),
        sa.Column("tag_dirty", sa.Integer(), nullable=False, server_default="0"),
        _s("sync_claimed_by", 96, nullable=True),
        sa.Column("sync_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sync_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("member_code"),
    )
    op.create_index("ix_loyalty_member_unionid", "loyalty_member", ["unionid"])
    op.create_index("ix_loyalty_member_external_userid", "loyalty_member", ["external_userid"])
    op.create_index("ix_loyalty_member_tag_dirty", "loyalty_member", ["tag_dirty"])
    op.create_table(
        "purchase",
        _s("order_id", 64, nullable=False),
        _s("member_code", 32, nullable=False),
        _s("store_id", 16, nullable=False, server_default=""),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("items", sa.String(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_purchase_member_at", "purchase", ["member_code", "at", "amount_fen"])
    op.create_table(
        "pos_request",
        _s("request_id", 64, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_pos_request_at", "pos_request", ["at"])
    op.create_table(
        "customer_unionid",
        _s("unionid", 64, nullable=False),
        _s("external_userid", 64, nullable=False),
        sa.PrimaryKeyConstraint("unionid"),
    )
    op.create_index("ix_customer_unionid_external_userid", "customer_unionid",
                    ["external_userid"])
    op.create_table(
        "questionnaire_answer",
        _s("form", 32, nullable=False),
        _s("external_userid", 64, nullable=False),
        _s("userid", 64, nullable=False),
        sa.Column("codes", sa.String(), nullable=False),
        sa.Column("answered_at", sa.Float(), nullable=False),
        sa.Column("applied_at", sa.Float(), nullable=True),
        _s("corrected_by", 64, nullable=True),
        sa.PrimaryKeyConstraint("form", "external_userid"),
    )


def downgrade() -> None:
    for table in ("questionnaire_answer", "customer_unionid", "pos_request", "purchase", "loyalty_member"):
        op.drop_table(table)
