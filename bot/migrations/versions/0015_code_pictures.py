"""join codes' hosted pictures: wecom_code.pic_url

Revision ID: 0015_code_pictures
Revises: 0014_console_members
Create Date: 2026-12-03 17:30:00

The QR image of a store's 「加入群聊」 code, uploaded once with media/uploadimg: the URL
welcomes attach as `pic_url` (WeCom documents only uploadimg's URLs as valid there).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_code_pictures"
down_revision = "0014_console_members"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wecom_code") as batch:
        batch.add_column(sa.Column("pic_url", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("wecom_code") as batch:
        batch.drop_column("pic_url")
