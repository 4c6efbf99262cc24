"""customer journeys: member events, journey entries and steps

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:00:00

Member facts (purchases, levels) recorded by the member data for journeys to start and stop
on; one row per customer and journey; one row per (entry, step) written before anything is
sent: the journeys' exactly-once unit (bot/journeys/tables.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("attrs", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_member_event_external_userid", "member_event", ["external_userid"])
    op.create_index("ix_member_event_event_at", "member_event", ["event", "at"])
    op.create_table(
        "journey_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("entry_day", sa.String(length=10), nullable=False),
        sa.Column("entered_at", sa.Float(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("journey", "external_userid", "entry_day",
                            name="uq_journey_entry"),
    )
    op.create_index("ix_journey_entry_external_userid", "journey_entry", ["external_userid"])
    op.create_index("ix_journey_entry_due", "journey_entry", ["journey", "status", "entry_day"])
    op.create_table(
        "journey_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=48), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("due_day", sa.String(length=10), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "step", name="uq_journey_step"),
    )
    op.create_index("ix_journey_step_due", "journey_step", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_journey_step_due", table_name="journey_step")
    op.drop_table("journey_step")
    op.drop_index("ix_journey_entry_due", table_name="journey_entry")
    op.drop_index("ix_journey_entry_external_userid", table_name="journey_entry")
    op.drop_table("journey_entry")
    op.drop_index("ix_member_event_event_at", table_name="member_event")
    op.drop_index("ix_member_event_external_userid", table_name="member_event")
    op.drop_table("member_event")
