"""console members and journeys: level/stage counts and moves, answers, journey cohorts

Revision ID: 0014_console_members
Revises: 0013_journey_tasks
Create Date: 2026-12-03 17:15:00

The console's Members and Journeys pages read these daily rollups (bot/console/), never
the member or journey tables per request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_console_members"
down_revision = "0013_journey_tasks"
branch_labels = None
depends_on = None


def _text(name: str, length: int, *, default: str | None = None) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=False, server_default=default)


def _counts(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name in names]


def upgrade() -> None:
    op.create_table(
        "console_member_state",
        _text("member_code", 32), _text("store_id", 16, default=""),
        _text("level", 16, default=""), _text("stage", 16, default=""),
        sa.PrimaryKeyConstraint("member_code"),
    )
    op.create_table(
        "console_member_day",
        _text("day", 10), _text("store_id", 16), _text("kind", 8), _text("name", 16),
        *_counts("members"),
        sa.PrimaryKeyConstraint("day", "store_id", "kind", "name"),
    )
    op.create_index("ix_console_member_day_store_day", "console_member_day", ["store_id", "day"])
    op.create_table(
        "console_member_move",
        _text("day", 10), _text("store_id", 16), _text("kind", 8), _text("from_name", 16),
        _text("to_name", 16), *_counts("members"),
        sa.PrimaryKeyConstraint("day", "store_id", "kind", "from_name", "to_name"),
    )
    op.create_index("ix_console_member_move_store_day", "console_member_move",
                    ["store_id", "day"])
    op.create_table(
        "console_answer_day",
        _text("day", 10), _text("store_id", 16), _text("form", 32), _text("question", 32),
        _text("code", 8), *_counts("answers"),
        sa.PrimaryKeyConstraint("day", "store_id", "form", "question", "code"),
    )
    op.create_index("ix_console_answer_day_store_day", "console_answer_day", ["store_id", "day"])
    op.create_table(
        "console_journey_day",
        _text("day", 10), _text("journey", 64), _text("step", 48), _text("store_id", 16),
        *_counts("entered", "active", "finished", "left_purchase", "left_tag", "left_groups",
                 "left_staff", "left_gone", "reached", "waiting", "sent", "skipped_stopped",
                 "skipped_allowance", "skipped_gone", "skipped_other"),
        sa.PrimaryKeyConstraint("day", "journey", "step", "store_id"),
    )
    op.create_index("ix_console_journey_day_store_day", "console_journey_day",
                    ["store_id", "day"])


def downgrade() -> None:
    for table in ("console_journey_day", "console_answer_day", "console_member_move",
                  "console_member_day", "console_member_state"):
        op.drop_table(table)
