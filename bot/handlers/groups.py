"""Customer groups: who joined or left, when and how, kept as current state plus a log.

The update callback says join or leave and lists who (MemChangeList); how someone joined
(direct invitation, invite link, or the group QR code) is only in groupchat/get, whose
join_scene uses 1/2/3 where the callback's JoinScene uses 0 (invited) / 3 (QR). We read the
group back and fall back to the callback's coarser answer when the read fails.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Connection

from bot.codes.attribution import join_states, record_join_states, serves
from bot.codes.follow import follow_groups
from bot.db import repo
from bot.dispatch import Context, Router
from bot.groupchats import group_fields, join_fields
from bot.wecom.errors import WeComError
from bot.wecom.events import ChatCreated, ChatDismissed, ChatEvent, ChatUpdated

log = logging.getLogger(__name__)
router = Router()
CALLBACK_JOIN_HOW = {0: "invite", 3: "qr"}  # the callback's JoinScene
QUIT_HOW = {0: "left", 1: "removed"}


async def _read_group(ctx: Context, chat_id: str) -> dict[str, Any] | None:
    try:
        return await ctx.services.wecom.get_group_chat(chat_id)
    except WeComError as exc:
        log.warning("groupchat/get %s failed (%s): using the callback's own fields", chat_id, exc)
        return None


@router.on(ChatCreated)
async def on_chat_created(ctx: Context, ev: ChatCreated) -> None:
    group = await _read_group(ctx, ev.chat_id) or {}
    # The read shows the group as it is now; who joined after the creation gets (or got) an
    # update callback of their own and is logged from that.
    members = [m for m in group.get("member_list", [])
               if float(m.get("join_time") or 0) <= ev.create_time]

    def effects(conn: Connection) -> None:
        repo.group_seen(conn, chat_id=ev.chat_id, **group_fields(group))
        for member in members:
            repo.group_joined(conn, event_id=ctx.event_id, chat_id=ev.chat_id,
                              member_id=member["userid"], **join_fields(member, ev.create_time))

    await ctx.finish(effects)
    log.info("group %s created (%s), %d members", ev.chat_id, group.get("name", "?"),
             len(members))
    await follow_groups(ctx.services.db, ctx.services.wecom, ev.chat_id)


@router.on(ChatUpdated)
async def on_chat_updated(ctx: Context, ev: ChatUpdated) -> None:
    if ev.update_detail == "add_member":
        await _members_joined(ctx, ev)
    elif ev.update_detail == "del_member":
        await _members_left(ctx, ev)
    else:  # change_name / change_owner / change_notice: read the group back
        group = await _read_group(ctx, ev.chat_id)
        if group is not None:
            await ctx.finish(lambda s: repo.group_seen(s, chat_id=ev.chat_id,
                                                       **group_fields(group)))
        log.info("group %s: %s", ev.chat_id, ev.update_detail)


async def _members_joined(ctx: Context, ev: ChatUpdated) -> None:
    group = await _read_group(ctx, ev.chat_id)
    listed = {m["userid"]: m for m in (group or {}).get("member_list", [])}
    joined = list(ev.members)
    if not joined and group is not None:  # no MemChangeList: diff against what we know
        known = await ctx.services.db.read(lambda s: repo.group_members(s, ev.chat_id))
        joined = [uid for uid in listed if uid not in known]
    fallback_how = CALLBACK_JOIN_HOW.get(ev.join_scene, "invite")
    served = ev.join_scene == 3 and await ctx.services.db.read(lambda c: serves(c, ev.chat_id))
    states = await join_states(ctx.services.wecom, ev.chat_id, joined, group, served)

    def effects(conn: Connection) -> None:
        record_join_states(conn, ev.chat_id, states, float(ev.create_time))
        if group is not None:
            repo.group_seen(conn, chat_id=ev.chat_id, **group_fields(group))
        for member_id in joined:
            row = join_fields(listed.get(member_id, {}), ev.create_time,
                              fallback_how=fallback_how)
            if (row["how"] == "qr") != (fallback_how == "qr"):
                # The read reflects a later re-join (it happens within seconds): trust the
                # callback's coarser answer for this one.
                row = join_fields({}, ev.create_time, how=fallback_how)
            repo.group_joined(conn, event_id=ctx.event_id, chat_id=ev.chat_id,
                              member_id=member_id, **row)

    await ctx.finish(effects)
    log.info("group %s: %d joined (%s)", ev.chat_id, len(joined), ", ".join(joined))
    await follow_groups(ctx.services.db, ctx.services.wecom, ev.chat_id)


async def _members_left(ctx: Context, ev: ChatUpdated) -> None:
    left = list(ev.members)
    if not left:
        group = await _read_group(ctx, ev.chat_id)
        if group is not None:
            current = {m["userid"] for m in group.get("member_list", [])}
            known = await ctx.services.db.read(lambda s: repo.group_members(s, ev.chat_id))
            left = sorted(known - current)
    how = QUIT_HOW.get(ev.quit_scene, "left")

    def effects(conn: Connection) -> None:
        for member_id in left:
            repo.group_left(conn, event_id=ctx.event_id, chat_id=ev.chat_id,
                            member_id=member_id, how=how, at=float(ev.create_time))
        if ev.cur_mem_ver:
            repo.group_seen(conn, chat_id=ev.chat_id, member_version=ev.cur_mem_ver)

    await ctx.finish(effects)
    log.info("group %s: %d %s (%s)", ev.chat_id, len(left), how, ", ".join(left))
    await follow_groups(ctx.services.db, ctx.services.wecom, ev.chat_id)


@router.on(ChatDismissed)
async def on_chat_dismissed(ctx: Context, ev: ChatEvent) -> None:
    at = float(ev.create_time)

    def effects(conn: Connection) -> None:
        for member_id in repo.group_members(conn, ev.chat_id):
            repo.group_left(conn, event_id=ctx.event_id, chat_id=ev.chat_id,
                            member_id=member_id, how="dismissed", at=at)
        repo.group_seen(conn, chat_id=ev.chat_id, dismissed_at=at)

    await ctx.finish(effects)
    log.info("group %s dismissed", ev.chat_id)
    await follow_groups(ctx.services.db, ctx.services.wecom, ev.chat_id)
