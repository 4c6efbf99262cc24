"""Channels: what a QR code's ``state`` means and the welcome it earns (docs/channels.md).

The package in the order a channels.yaml travels: `spec` (its pydantic models), `patterns`
(``match`` entries and ``{name}`` substitutions), `compile` (cross-checks, compiled channels),
`checks` (sample renders at load time), `render` (one context, one render step), `model`
(the values handed out) and `book` (`ChannelBook`: load, match, render).
"""

from bot.books.context import Person
from bot.channels.book import ChannelBook
from bot.channels.model import (
    ChannelInfo,
    ChannelMatch,
    Perk,
    Tag,
    WelcomeError,
    WelcomeMessage,
)
from bot.channels.patterns import StatePattern, compile_pattern
from bot.wecom.content import MAX_ATTACHMENTS, MAX_TEXT_BYTES

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
