"""Channels: what a QR code's ``state`` means and the welcome it earns (docs/channels.md)."""

from bot.channels.book import (
    MAX_ATTACHMENTS,
    MAX_TEXT_BYTES,
    ChannelBook,
    ChannelInfo,
    ChannelMatch,
    Perk,
    Person,
    StatePattern,
    Tag,
    WelcomeError,
    WelcomeMessage,
    compile_pattern,
)

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_TEXT_BYTES",
    "ChannelBook",
    "ChannelInfo",
    "ChannelMatch",
    "Perk",
    "Person",
    "StatePattern",
    "Tag",
    "WelcomeError",
    "WelcomeMessage",
    "compile_pattern",
]
