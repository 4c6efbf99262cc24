"""``journeys check --online``: every tag a journey names, looked up in WeCom's corp tags.

The offline check (`bot.journeys.compile.check_tags`) holds each tag against the journey
files' own vocabulary (``tags:``); this one asks WeCom (``externalcontact/get_corp_tag_list``,
the simulator or the real API, as `bot.tags.TagBook` reads it) whether the tag exists. A
tag WeCom does not have is never put on a customer, so an entry on it never fires and a
stop on it never stops: reported at the journey's file:line like any other mistake.

A tag the channel book (`sop/channels.yaml`) hands out is not missing: the bot creates it
in WeCom (`add_corp_tag`, `bot.tags.TagBook`) the first time a customer scans that channel.
Its name may hold ``{captures}`` and ``{store_*}`` fields: ``store_*`` stands for the value
of any store in stores.yaml, a capture for any text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.books.errors import OperatorFileError
from bot.channels import ChannelBook
from bot.channels.model import STORE_FIELDS
from bot.config import Secrets, Settings
from bot.journeys.book import JourneyBook
from bot.wecom.client import WeComClient
from bot.wecom.ratelimit import RateLimits


def corp_tag_names(groups: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(group name, tag name) of every live tag in a get_corp_tag_list answer."""
    return {(str(g.get("group_name", "")), str(t.get("name", "")))
            for g in groups if not g.get("deleted")
            for t in g.get("tag", []) if not t.get("deleted")}


TagRule = Callable[[str | None, str], bool]  # (group or None for any, name) -> created


def channel_tags(channels: ChannelBook) -> TagRule:
    """Whether a channel creates the tag (group, name) on first use; group None: any group."""
    stores = channels.stores.all()
    store_values = {f"store_{f}": sorted({str(getattr(s, f) or "") for s in stores} - {""},
                                         key=len, reverse=True) for f in STORE_FIELDS}
    rules: list[tuple[str, re.Pattern[str]]] = []
    for name in channels.names():
        channel = channels.channel(name)
        for group, subst in channel.tags if channel else ():
            pattern = "".join(
                ("(?:" + "|".join(map(re.escape, store_values[text])) + ")"
                 if text in store_values else ".+") if is_var else re.escape(text)
                for is_var, text in subst.parts)
            rules.append((group, re.compile(pattern)))

    def created(group: str | None, name: str) -> bool:
        return any((group is None or group == g) and rx.fullmatch(name) for g, rx in rules)
    return created


def unknown_in_wecom(book: JourneyBook, groups: list[dict[str, Any]],
                     created: TagRule | None = None) -> list[OperatorFileError]:
    """Each use of a tag WeCom does not have and no channel creates, at its file:line:col."""
    pairs = corp_tag_names(groups)
    names = {name for _, name in pairs}
    errors = []
    for where, tag in book.tag_uses:
        group, slash, name = tag.partition("/")
        if ((group, name) in pairs) if slash else tag in names:
            continue
        if created is not None and (created(group, name) if slash else created(None, tag)):
            continue
        errors.append(OperatorFileError(
            where.path, where.line, where.column,
            f"tag '{tag}' is not in WeCom's corp tag list (get_corp_tag_list) and no channel "
            "in channels.yaml creates it: no customer can get it, so this rule never fires; "
            "create it in 管理后台 → 客户联系 → 客户标签 (or check its spelling)"))
    return errors


async def read_corp_tags(settings: Settings, secrets: Secrets) -> list[dict[str, Any]]:
    """WeCom's corp tag list, read once through the configured API."""
    async with WeComClient(settings.wecom.api_base_url, secrets.corp_id, secrets.secret,
                           limits=RateLimits(settings.wecom.per_api_per_minute,
                                             settings.wecom.per_api_per_hour),
                           request_timeout_s=settings.wecom.request_timeout_s,
                           max_retries=settings.wecom.max_retries) as client:
        return await client.get_corp_tag_list()
