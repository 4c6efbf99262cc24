"""journeys' stop rules read from small indexes, not per entry

Revision ID: 0016_journey_indexes
Revises: 0015_code_pictures
Create Date: 2026-12-04 03:00:00

The day's plan finds the customers who may meet a stop rule from what changed: members and
relations no longer active (partial indexes: only those rows), leaves from customer groups
by time; and "still in a group" is looked up by member, not by a walk of every group.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_journey_indexes"
down_revision = "0015_code_pictures"
branch_labels = None
depends_on = None

_NOT_ACTIVE = sa.text("status <> 'active'")


def upgrade() -> None:
    op.create_index("ix_member_not_active", "member", ["external_userid"],
                    sqlite_where=_NOT_ACTIVE, postgresql_where=_NOT_ACTIVE)
    op.create_index("ix_member_follow_not_active", "member_follow", ["external_userid"],
                    sqlite_where=_NOT_ACTIVE, postgresql_where=_NOT_ACTIVE)
    op.create_index("ix_group_member_member_id", "group_member", ["member_id"])
    op.create_index("ix_group_member_log_action_at", "group_member_log", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_group_member_log_action_at", "group_member_log")
    op.drop_index("ix_group_member_member_id", "group_member")
    op.drop_index("ix_member_follow_not_active", "member_follow")
    op.drop_index("ix_member_not_active", "member")
