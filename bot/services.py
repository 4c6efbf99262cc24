"""The long-lived things every handler needs, built once at start (see bot.app)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.channels import ChannelBook
from bot.config import Secrets, Settings
from bot.store.db import Database
from bot.stores import StoreDirectory
from bot.tags import TagBook
from bot.wecom.client import WeComClient


@dataclass
class Services:
    settings: Settings
    secrets: Secrets
    db: Database
    wecom: WeComClient
    tags: TagBook
    stores: StoreDirectory
    channels: ChannelBook  # replaced whole on reload: handlers read it once per event
