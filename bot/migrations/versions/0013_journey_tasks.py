"""journey staff tasks: each customer's follow-up a staff member sends from the sidebar

Revision ID: 0013_journey_tasks
Revises: 0012_moments
Create Date: 2026-12-03 17:40:00

One row per ``via: staff_task`` step handed over (bot/journeys/tables.py): due, then sent
from the chat sidebar (once), or missed when its day ended unsent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_journey_tasks"
down_revision = "0012_moments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_row", sa.Integer(), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=48), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("attachments", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("step_row"),
    )
    op.create_index("ix_journey_task_chat", "journey_task",
                    ["sender", "external_userid", "status"])
    op.create_index("ix_journey_task_day", "journey_task", ["status", "day"])


def downgrade() -> None:
    op.drop_index("ix_journey_task_day", table_name="journey_task")
    op.drop_index("ix_journey_task_chat", table_name="journey_task")
    op.drop_table("journey_task")
