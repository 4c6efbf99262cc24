"""member_tag by tag: find the customers carrying a tag (member-targeted SOPs)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_member_tag_tag_id", "member_tag", ["tag_id"])


def downgrade() -> None:
    op.drop_index("ix_member_tag_tag_id", table_name="member_tag")
