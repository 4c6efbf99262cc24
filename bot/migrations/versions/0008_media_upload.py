"""media uploads: images WeCom hosts for the bot, by content hash

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:30:00

Operators name local image files; the bot uploads each once (media/uploadimg for a
permanent pic_url, media/upload for a 3-day media_id, renewed before it expires) and keeps
what WeCom answered here (bot/media/).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_upload",
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("content_hash", "kind"),
    )


def downgrade() -> None:
    op.drop_table("media_upload")
