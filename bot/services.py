"""The long-lived things every handler needs, built once at start (see bot.app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.books.stores import StoreDirectory
from bot.channels import ChannelBook
from bot.config import Secrets, Settings
from bot.db.engine import Database
from bot.tags import TagBook
from bot.wecom.client import WeComClient

if TYPE_CHECKING:
    from bot.replies.messenger import AppMessenger
    from bot.replies.service import RepliesService


@dataclass
class Services:
    settings: Settings
    secrets: Secrets
    db: Database
    wecom: WeComClient
    tags: TagBook
    stores: StoreDirectory
    channels: ChannelBook  # replaced whole on reload: handlers read it once per event
    replies: RepliesService | None = None  # 话术 (issue 4), set at start
    app_messenger: AppMessenger | None = None  # message/send to staff, per-member limit
