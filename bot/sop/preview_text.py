"""``sop preview`` printed: `format_text` for the operator (in the operators' language,
`bot.i18n`), `as_json` for tools (plain JSON, no language).

`bot.sop.preview` builds the `Preview` (what the SOPs will send on one day); this module
only lays it out.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from bot.books.templating import WEEKDAYS_CN
from bot.i18n import t
from bot.sop.book import GroupSelect, MemberSelect
from bot.sop.preview import Preview, PreviewSend

__all__ = ["as_json", "format_text"]


def format_text(preview: Preview) -> str:
    """The preview for people, in the operators' language."""
    day = preview.day
    member = t("preview.member_day") if day.weekday() == 1 else ""
    weekday = t("preview.weekdays").split()[day.weekday()]
    lines = [t("preview.title", day=day.isoformat(), weekday=weekday, member=member),
             _groups_line(preview)]
    if preview.store_filter:
        lines.append(t("preview.store_only", store=preview.store_filter))
    if not preview.sends:
        lines += ["", t("preview.nothing")]
    current: tuple[str, datetime] | None = None
    for send in preview.sends:
        key = (send.sop.name, send.slot)
        if key != current:
            current = key
            lines += ["", _heading(preview, send)]
            if send.sop.note:
                lines.append(f"       {send.sop.note}")
        lines.extend(_send_lines(send))
    if preview.skipped:
        lines += ["", t("preview.not_sent")]
        lines.extend(f"  · {name}: {why}" for name, why in preview.skipped)
    if preview.sends_per_group:
        spread = Counter(preview.sends_per_group.values())
        parts = t("app.list_sep").join(t("preview.per_group_part", count=n, groups=groups)
                                       for n, groups in sorted(spread.items()))
        lines += ["", t("preview.per_group", parts=parts), "  " + t("preview.quota_note")]
    if preview.errors:
        lines += ["", t("preview.failed", count=len(preview.errors))]
    return "\n".join(lines)


def _groups_line(preview: Preview) -> str:
    if preview.groups_kind == "database":
        return t("preview.groups_database", count=preview.group_total,
                 detail=preview.groups_detail)
    return t("preview.groups_nominal", detail=preview.groups_detail)


def _via(send: PreviewSend) -> str:
    sop = send.sop
    via = t("preview.via.robot" if sop.robot is not None
            else "preview.via.owner_post" if sop.owner_post
            else "preview.via.moment" if sop.moment else "preview.via.group_send")
    if sop.robot is not None:
        return via + f" {sop.robot.name} → {sop.robot.chat} ({sop.robot.format})"
    if isinstance(sop.target, MemberSelect):
        tags = t("app.list_sep").join(str(tag) for tag in sop.target.tags)
        if sop.moment:
            who = t("preview.audience_tagged", tags=tags) if tags else t("preview.audience_all")
            return via + t("preview.moment_audience", who=who)
        return via + t("preview.members", tags=tags, match=sop.target.match)
    return via


def _heading(preview: Preview, send: PreviewSend) -> str:
    sop = send.sop
    clock = f"{send.slot:%H:%M}"
    zone = str(sop.timezone)
    if zone != "Asia/Shanghai":
        clock += f" ({zone})"
    same = [s for s in preview.sends if s.sop is sop and s.slot == send.slot]
    stores = len({s.store_id for s in same if s.store_id})
    extent = ""
    if isinstance(sop.target, GroupSelect):
        extent = t("preview.extent_groups", stores=stores,
                   groups=sum(s.group_count for s in same))
    elif isinstance(sop.target, MemberSelect):
        extent = t("preview.extent_stores", stores=stores)
    own = t("preview.per_store", rule=sop.schedule.rule) if sop.schedule.per_store else ""
    return f"{clock}  {sop.name}  [{_via(send)}]{extent}{own}"


def _send_lines(send: PreviewSend) -> list[str]:
    lines: list[str] = []
    if send.store_id:
        lines.append(f"  ▸ {send.store_id} {send.store_name}")
    if send.sop.moment:
        who = t("app.list_sep").join(f"{b.owner_name} ({b.owner})" if b.owner_name
                                     else b.owner for b in send.owners)
        lines.append("    " + t("preview.moment_posters", who=who))
    for batch in send.owners if not send.sop.moment else ():
        who = f"{batch.owner_name} ({batch.owner})" if batch.owner_name else batch.owner
        names = "、".join(g.name + (f" [{','.join(sorted(g.tags))}]" if g.tags else "")
                         for g in batch.groups)
        line = t("preview.owner_posts" if send.sop.owner_post else "preview.owner_confirms",
                 who=who, count=len(batch.groups), names=names)
        lines.append("    " + line)
    if isinstance(send.sop.target, MemberSelect) and not send.sop.moment:
        lines.append("    " + t("preview.members_at_send"))
    if send.error is not None:
        lines.append(f"    ✗ {send.error}")
        return lines
    return lines + _message_lines(send)


def _message_lines(send: PreviewSend) -> list[str]:
    assert send.message is not None
    message = send.message
    text = message.robot.content(message.text) if message.robot else message.text
    lines = [f"    │ {line}" for line in text.splitlines()]
    if message.robot is not None and message.robot.format == "text" and message.robot.mention:
        lines.append("    " + t("preview.mention", names=", ".join(message.robot.mention)))
    for attachment in message.attachments:
        kind = attachment["msgtype"]
        body = attachment[kind]
        if kind == "image":
            by_hand = t("preview.image_by_hand") if send.sop.owner_post else ""
            line = t("preview.image", source=body.get("pic_url") or body.get("media_id"),
                     by_hand=by_hand)
        elif kind == "link":
            line = t("preview.link", title=body["title"], url=body["url"])
        elif kind == "video":
            line = t("preview.video", media=body["media_id"])
        else:
            line = t("preview.miniprogram", title=body["title"], page=body["page"])
        lines.append("    + " + line)
    if message.dropped_attachments:
        lines.append("    " + t("preview.dropped", count=message.dropped_attachments))
    return lines


def as_json(preview: Preview) -> dict[str, Any]:
    """The preview for tools: plain JSON types, times in ISO 8601 with their offset."""
    return {
        "date": preview.day.isoformat(),
        "weekday": WEEKDAYS_CN[preview.day.weekday()],
        "store": preview.store_filter,
        "groups": {
            "source": preview.groups_kind,
            "detail": preview.groups_detail,
            "count": preview.group_total,
        },
        "sends": [_send_json(send) for send in preview.sends],
        "skipped": [{"sop": name, "reason": why} for name, why in preview.skipped],
        "group_sends_per_group": dict(sorted(preview.sends_per_group.items())),
        "errors": len(preview.errors),
    }


def _send_json(send: PreviewSend) -> dict[str, Any]:
    sop = send.sop
    out: dict[str, Any] = {
        "sop": sop.name,
        "note": sop.note,
        "time": f"{send.slot:%H:%M}",
        "slot": send.slot.isoformat(),
        "timezone": str(sop.timezone),
        "via": sop.via,
        "store_id": send.store_id,
        "store_name": send.store_name,
    }
    if sop.robot is not None:
        out["robot"] = {
            "name": sop.robot.name,
            "chat": sop.robot.chat,
            "format": sop.robot.format,
            "mention": list(sop.robot.mention),
            "key_env": sop.robot.key_env,
        }
    if isinstance(sop.target, MemberSelect):
        out["members"] = {"tags": [str(t) for t in sop.target.tags], "match": sop.target.match}
    if isinstance(sop.target, GroupSelect):
        out["owners"] = [
            {
                "owner": batch.owner,
                "owner_name": batch.owner_name,
                "groups": [
                    {"chat_id": g.chat_id, "name": g.name, "tags": sorted(g.tags)}
                    for g in batch.groups
                ],
            }
            for batch in send.owners
        ]
    if send.message is not None:
        out["text"] = send.message.text
        out["attachments"] = send.message.attachments
        out["dropped_attachments"] = send.message.dropped_attachments
        out["requests"] = send.requests()
    out["error"] = send.error
    return out
