"""The long-lived things every handler needs, built whole at start (see bot.app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.books.live import LiveBook
from bot.books.stores import StoreDirectory
from bot.channels import ChannelBook
from bot.config import Secrets, Settings
from bot.db.engine import Database
from bot.tags import TagBook
from bot.wecom.client import WeComClient

if TYPE_CHECKING:
    from bot.media.cache import MediaCache
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
    live_channels: LiveBook[ChannelBook]  # reloaded when channels.yaml & co. change
    replies: RepliesService  # 话术 (issue 4)
    app_messenger: AppMessenger  # message/send to staff, per-member limit
    media: MediaCache | None = None  # local pictures uploaded once (bot.media)

    @property
    def channels(self) -> ChannelBook:
        """The channel book in use: swapped whole on reload, so handlers read it once per
        event."""
        return self.live_channels.value
