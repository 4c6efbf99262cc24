"""Customer relations after the first add: tag edits, deletions, transfers, corp tag changes.

WeCom's callbacks say *that* something changed, not always *what*: for tag edits the
handler reads the customer back (externalcontact/get, every follow_user page) and makes our
copy equal to WeCom's.

84061 ("no relation") is the answer for a customer whom every member has deleted, or whose
免验证 add no member has accepted yet: nothing to read, and no retry will change that. A
customer who deleted a member is different: the member keeps them (one-way) and the
customer APIs still answer, so their tags are read as before.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Connection

from bot.db import repo
from bot.dispatch import Context, Router
from bot.members.linking import remember_unionid
from bot.wecom import errors
from bot.wecom.contacts import get_external_contact_all
from bot.wecom.errors import WeComError
from bot.wecom.events import (
    ContactDeletedByCustomer,
    ContactDeletedByStaff,
    ContactEdited,
    ContactEvent,
    ContactTransferFailed,
    TagChanged,
)

log = logging.getLogger(__name__)
router = Router()
CORP_TAG = 1  # follow_user.tags[].type: 1 corp tag, 2 the staff member's personal tag


@router.on(ContactEdited)
async def on_contact_edited(ctx: Context, ev: ContactEdited) -> None:
    try:
        data = await get_external_contact_all(ctx.services.wecom, ev.external_user_id)
    except WeComError as exc:
        if exc.errcode != errors.NO_RELATION:
            raise
        log.info("customer %s edited by %s, but no member has them any more (84061): "
                 "nothing to read", ev.external_user_id, ev.user_id)
        return
    name = str(data.get("external_contact", {}).get("name", ""))
    unionid = str(data.get("external_contact", {}).get("unionid", ""))
    tag_ids: set[str] = set()
    for follow in data.get("follow_user", []):
        tag_ids.update(str(tag["tag_id"]) for tag in follow.get("tags", [])
                       if int(tag.get("type", CORP_TAG)) == CORP_TAG)
    now = time.time()

    def effects(conn: Connection) -> None:
        repo.member_seen(conn, external_userid=ev.external_user_id, name=name, at=now)
        repo.set_member_tags(conn, ev.external_user_id, tag_ids, now)
        remember_unionid(conn, ev.external_user_id, unionid)  # a till member meets them

    await ctx.finish(effects)
    log.info("customer %s edited by %s: %d corp tags now", ev.external_user_id, ev.user_id,
             len(tag_ids))


@router.on(ContactDeletedByCustomer, ContactDeletedByStaff)
async def on_contact_deleted(ctx: Context, ev: ContactEvent) -> None:
    status = ("deleted_by_customer" if isinstance(ev, ContactDeletedByCustomer)
              else "deleted_by_staff")
    at = float(ev.create_time)

    def effects(conn: Connection) -> None:
        repo.follow_removed(conn, external_userid=ev.external_user_id, userid=ev.user_id,
                            status=status, at=at)

    await ctx.finish(effects)
    log.info("customer %s and %s: %s", ev.external_user_id, ev.user_id, status)


@router.on(ContactTransferFailed)
async def on_transfer_failed(ctx: Context, ev: ContactTransferFailed) -> None:
    log.warning("transfer of customer %s to %s failed: %s", ev.external_user_id, ev.user_id,
                ev.fail_reason or "unknown reason")


@router.on(TagChanged)
async def on_tag_changed(ctx: Context, ev: TagChanged) -> None:
    # The callback names one tag or group; re-reading the whole list also covers shuffles
    # and rule groups, and costs one call.
    await ctx.services.tags.sync()
    log.info("corp tag %s %s (%s): tag list re-read", ev.tag_type or "order", ev.tag_id,
             ev.change_type)
