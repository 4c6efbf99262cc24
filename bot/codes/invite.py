"""Welcomes invite into the store's group with its permanent 「加入群聊」 code.

A group QR made in the WeCom client dies after 7 days, so the `group_qr_url` of
stores.yaml stops working a week after someone pasted it. Once `codes sync` has recorded
the store's join code, the welcome's ``{{ store.group_qr_url }}`` is that code's QR image
instead; until then (no join code yet: the store has no group, or sync has not run) the
stores.yaml value is used, and the log says so.
"""

from __future__ import annotations

import dataclasses
import logging

from bot.books.stores import Store
from bot.channels import ChannelMatch
from bot.codes.records import lookup_join_code_picture
from bot.db.engine import Database

log = logging.getLogger(__name__)


async def with_join_code(db: Database, match: ChannelMatch) -> ChannelMatch:
    """`match` with its store's group_qr_url replaced by the store's join code QR."""
    if match.store is None:
        return match
    store = await store_with_join_code(db, match.store)
    return match if store is match.store else dataclasses.replace(match, store=store)


async def store_with_join_code(db: Database, store: Store) -> Store:
    """The store as welcomes and replies show it: group_qr_url = its join code's QR."""
    url = await lookup_join_code_picture(db, store.id)
    if not url:
        if store.group_qr_url:
            log.info("store %s has no join code recorded yet: inviting with group_qr_url "
                     "from stores.yaml (it expires 7 days after it was made; run `codes "
                     "sync`)", store.id)
        return store
    return dataclasses.replace(store, group_qr_url=url)
