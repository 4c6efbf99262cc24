"""Between syncs, a store's join code follows its groups: a group that fills up or is
dismissed leaves the code's list, a new one (WeCom opens 「<group_name>2」 when all are
full) joins it.

Called by the group handlers (bot.handlers.groups) after a group event is recorded: one
read when the group's store has no join code, an update_join_way only when the list the
sync would make (bot.codes.model.chat_list, the same rule) differs from the recorded
one. The result is recorded with the same spec hash a sync would compute, so the next
`codes sync` sees it unchanged. A failed update is logged and left to the next sync.
"""

from __future__ import annotations

import logging
import time

from bot.codes import records
from bot.codes.model import DesiredCode, chat_list
from bot.db.engine import Database
from bot.wecom.client import WeComClient
from bot.wecom.contact_ways import update_join_way
from bot.wecom.errors import WeComError

log = logging.getLogger(__name__)


async def follow_groups(db: Database, client: WeComClient, chat_id: str) -> bool:
    """Bring the join code of `chat_id`'s store in step with the store's groups; True when
    it was changed."""
    store_id = await db.read(lambda c: records.chat_store(c, chat_id))
    if not store_id:
        return False
    key = f"join:{store_id}"
    found = await db.read(lambda c: records.recorded_body(c, key))
    if found is None:
        return False
    config_id, recorded = found
    body, full_at = records.body_of(recorded)
    chats = chat_list(await db.read(lambda c: records.rooms_of(c, store_id)), full_at)
    if not chats or chats == body.get("chat_id_list"):
        return False
    new_body = {**body, "chat_id_list": chats}
    try:
        await update_join_way(client, {"config_id": config_id, **new_body})
    except WeComError as exc:
        log.warning("join code of store %s not moved to its groups %s: %s (the next codes "
                    "sync will)", store_id, chats, exc)
        return False
    new = DesiredCode(key, "join", str(body.get("state", "")), "", store_id, "", new_body,
                      full_at=full_at)
    await db.write(lambda c: records.record_followed(c, recorded, new, time.time()))
    log.info("join code of store %s now lists groups %s", store_id, ", ".join(chats))
    return True
