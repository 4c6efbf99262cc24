"""What the SOPs will send on one day: the data behind ``python -m bot sop preview``.

An operator who edits a template or a data file wants to see the result before 08:30 sends
it to every store's groups. `build_preview` renders every enabled SOP for every store it
reaches on a date, exactly as the scheduler would (same `SopBook.render`, same group
selection), and lays it out the way the sends happen: for ``group_send`` one
``add_msg_template`` per group owner and store (the owner confirms it in 群发助手), for a
robot one webhook post. `format_text` prints it for people, `as_json` for tools.

`group_send_counts` counts how many 群发 each group is due over some days, which is what
WeCom limits per group (wecom-reference §6); ``sop check`` warns with it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.books.templating import WEEKDAYS_CN
from bot.moments.plan import moment_body, store_staff
from bot.sop.book import GroupSelect, MemberSelect, Sop, SopBook, SopError, SopMessage
from bot.sop.group_tags import GroupRow

__all__ = [
    "OwnerBatch",
    "Preview",
    "PreviewSend",
    "as_json",
    "build_preview",
    "format_text",
    "group_send_counts",
]


@dataclass(frozen=True, slots=True)
class OwnerBatch:
    """The groups of one owner in one store: one add_msg_template call."""

    owner: str
    owner_name: str
    groups: tuple[GroupRow, ...]


@dataclass(slots=True)
class PreviewSend:
    """One rendered message at one slot: for one store (group/member SOPs) or one robot."""

    sop: Sop
    slot: datetime
    store_id: str | None
    store_name: str
    owners: list[OwnerBatch] = field(default_factory=list)
    message: SopMessage | None = None
    error: str | None = None

    @property
    def group_count(self) -> int:
        return sum(len(batch.groups) for batch in self.owners)

    def requests(self) -> list[dict[str, Any]]:
        """The API calls this send makes (webhook keys are never shown)."""
        if self.message is None:
            return []
        if self.sop.robot is not None:
            return [{"api": "webhook/send", "body": self.message.robot_payload()}]
        if self.sop.owner_post:  # the owners post it themselves; the bot only reminds them
            return [{"api": "message/send", "reminds": batch.owner,
                     "groups": [g.chat_id for g in batch.groups]} for batch in self.owners]
        if self.sop.moment:  # tags are resolved to ids at send time
            return [{"api": "externalcontact/add_moment_task", "body": moment_body(
                self.message.text, self.message.attachments, [b.owner for b in self.owners],
                [])}]
        if isinstance(self.sop.target, MemberSelect):
            return []  # customers and their staff are resolved from the database at send time
        return [
            {
                "api": "externalcontact/add_msg_template",
                "body": self.message.group_send_payload(
                    batch.owner, [g.chat_id for g in batch.groups]
                ),
            }
            for batch in self.owners
        ]


@dataclass(slots=True)
class Preview:
    """Everything one day's SOPs will do."""

    day: date
    store_filter: str | None
    groups_kind: str  # database | nominal
    groups_detail: str
    group_total: int
    sends: list[PreviewSend] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (SOP, why)
    sends_per_group: Counter[str] = field(default_factory=Counter)

    @property
    def errors(self) -> list[PreviewSend]:
        return [send for send in self.sends if send.error is not None]


# --------------------------------------------------------------------------- building


def build_preview(
    book: SopBook,
    day: date,
    groups: Sequence[GroupRow],
    *,
    groups_kind: str = "database",
    groups_detail: str = "",
    store_id: str | None = None,
) -> Preview:
    """Render every enabled SOP that fires on the local date `day`, as it will be sent."""
    preview = Preview(day, store_id, groups_kind, groups_detail, len(groups))
    for sop in book:
        if not sop.enabled:
            preview.skipped.append((sop.name, "enabled: false"))
            continue
        if day in sop.schedule.skip_dates:
            if sop.schedule.would_fire_on(day):  # not on a day it never sends anyway
                preview.skipped.append((sop.name, f"skip_dates: {day.isoformat()}"))
            continue
        for slot in sop.schedule.slots_on(day):
            _add_sends(book, sop, slot, groups, store_id, preview)
    preview.sends.sort(key=lambda s: (s.slot, s.sop.name, s.store_id or ""))
    return preview


def _add_sends(
    book: SopBook,
    sop: Sop,
    slot: datetime,
    groups: Sequence[GroupRow],
    store_id: str | None,
    preview: Preview,
) -> None:
    if sop.robot is not None:
        if store_id is not None and sop.robot.store_id not in (None, store_id):
            return
        store = book.stores.get(sop.robot.store_id) if sop.robot.store_id else None
        send = PreviewSend(sop, slot, store.id if store else None, store.name if store else "")
        _render_into(book, send)
        preview.sends.append(send)
        return
    reach = [s for s in book.stores_for(sop, slot) if store_id is None or s.id == store_id]
    if not reach and sop.schedule.per_store:  # another store's own time
        return
    _note_stores_without_data(book, sop, store_id, preview)
    if isinstance(sop.target, MemberSelect):
        for store in reach:
            posters = [OwnerBatch(u, book.stores.staff_name(u), ())
                       for u in store_staff(book.stores, store.id)] if sop.moment else []
            send = PreviewSend(sop, slot, store.id, store.name, owners=posters)
            _render_into(book, send)
            preview.sends.append(send)
        return
    assert isinstance(sop.target, GroupSelect)
    chosen = [g for g in book.select_groups(sop, groups, slot)
              if store_id is None or g.store_id == store_id]
    if not chosen:
        wanted = f" with group tags {', '.join(sorted(sop.target.tags))}" if sop.target.tags else ""
        preview.skipped.append((sop.name, f"{slot:%H:%M}: no group{wanted} matches"))
        return
    by_store: dict[str, list[GroupRow]] = defaultdict(list)
    for group in chosen:
        assert group.store_id is not None  # select_groups only returns groups with a store
        by_store[group.store_id].append(group)
    for store in reach:
        if store.id not in by_store:
            continue
        owners = _by_owner(book, by_store[store.id])
        send = PreviewSend(sop, slot, store.id, store.name, owners=owners)
        _render_into(book, send)
        preview.sends.append(send)
        if send.message is not None and not sop.owner_post:
            for group in by_store[store.id]:
                preview.sends_per_group[group.chat_id] += 1


def _note_stores_without_data(
    book: SopBook, sop: Sop, store_id: str | None, preview: Preview
) -> None:
    if sop.data is None or sop.target is None:
        return
    reached = {s.id for s in book.stores_for(sop)}
    for sid in sorted(sop.target.stores - reached):
        if store_id is None or sid == store_id:
            preview.skipped.append(
                (sop.name, f"store {sid}: no entry in {sop.data.name} and no default")
            )


def _by_owner(book: SopBook, groups: Iterable[GroupRow]) -> list[OwnerBatch]:
    owners: dict[str, list[GroupRow]] = defaultdict(list)
    for group in groups:
        owners[group.owner].append(group)
    return [
        OwnerBatch(owner, book.stores.staff_name(owner), tuple(rows))
        for owner, rows in sorted(owners.items())
    ]


def _render_into(book: SopBook, send: PreviewSend) -> None:
    try:
        send.message = book.render(send.sop, send.store_id, send.slot)
    except SopError as exc:
        send.error = str(exc)


def group_send_counts(
    book: SopBook, groups: Sequence[GroupRow], days: Iterable[date]
) -> Counter[str]:
    """How many 群发 (group_send slots) each group is due over `days`, by chat id."""
    counts: Counter[str] = Counter()
    sends = [sop for sop in book.enabled()  # owner posts are not 群发: they use no quota
             if isinstance(sop.target, GroupSelect) and sop.via == "group_send"]
    chosen: dict[tuple[str, datetime], list[GroupRow]] = {}
    for day in days:
        for sop in sends:
            for slot in sop.schedule.slots_on(day):
                key = (sop.name, slot.replace(year=2000, month=1, day=1))  # a time of day
                if key not in chosen:
                    chosen[key] = book.select_groups(sop, groups, slot)
                for group in chosen[key]:
                    counts[group.chat_id] += 1
    return counts


# --------------------------------------------------------------------------- output


_VIA_CN = {"group_send": "群发", "robot": "机器人", "owner_post": "群主发", "moment": "朋友圈"}


def format_text(preview: Preview) -> str:
    """The preview for people: Chinese labels with English where it helps, as in the demo."""
    day = preview.day
    member = "（会员日 member day）" if day.weekday() == 1 else ""
    lines = [
        f"果田鲜生 SOP 预览 · {day.isoformat()} {WEEKDAYS_CN[day.weekday()]}{member}",
        _groups_line(preview),
    ]
    if preview.store_filter:
        lines.append(f"只看门店 store {preview.store_filter}")
    if not preview.sends:
        lines.append("")
        lines.append("这一天没有要发的 SOP / nothing is sent on this day.")
    current: tuple[str, datetime] | None = None
    for send in preview.sends:
        key = (send.sop.name, send.slot)
        if key != current:
            current = key
            lines.append("")
            lines.append(_heading(preview, send))
            if send.sop.note:
                lines.append(f"       {send.sop.note}")
        lines.extend(_send_lines(send))
    if preview.skipped:
        lines.append("")
        lines.append("不发 / not sent:")
        lines.extend(f"  · {name}: {why}" for name, why in preview.skipped)
    if preview.sends_per_group:
        spread = Counter(preview.sends_per_group.values())
        parts = "，".join(f"{n} 条 × {groups} 个群" for n, groups in sorted(spread.items()))
        lines.append("")
        lines.append(f"每个群今天收到的群发 / 群发 per group today: {parts}")
        lines.append("  (WeCom 限制每群每月收到的群发条数，超出的由 outbox 暂缓；见 docs/sop.md)")
    if preview.errors:
        lines.append("")
        lines.append(f"{len(preview.errors)} 条渲染失败 / failed to render (see ✗ above)")
    return "\n".join(lines)


def _groups_line(preview: Preview) -> str:
    if preview.groups_kind == "database":
        return f"群来源 groups: {preview.group_total} 个群，来自数据库 {preview.groups_detail}"
    return (
        f"群来源 groups: 每店一个示意群（stores.yaml 的 group_name），因为 "
        f"{preview.groups_detail}\n"
        "  nominal groups: one per store, named as in stores.yaml, owned by its manager"
    )


def _heading(preview: Preview, send: PreviewSend) -> str:
    sop = send.sop
    clock = f"{send.slot:%H:%M}"
    zone = str(sop.timezone)
    if zone != "Asia/Shanghai":
        clock += f" ({zone})"
    via = f"{_VIA_CN[sop.via]} {sop.via}"
    if sop.robot is not None:
        via += f" {sop.robot.name} → {sop.robot.chat} ({sop.robot.format})"
    elif isinstance(sop.target, MemberSelect) and sop.moment:
        tags = "、".join(str(t) for t in sop.target.tags)
        via += f" 门店员工发表，{'带标签 ' + tags + ' 的顾客' if tags else '全部顾客'}可见"
    elif isinstance(sop.target, MemberSelect):
        tags = "、".join(str(t) for t in sop.target.tags)
        via += f" 一对一 to members tagged {tags} ({sop.target.match})"
    same = [s for s in preview.sends if s.sop is sop and s.slot == send.slot]
    stores = len({s.store_id for s in same if s.store_id})
    groups = sum(s.group_count for s in same)
    extent = ""
    if isinstance(sop.target, GroupSelect):
        extent = f" · {stores} 家店 stores · {groups} 个群 groups"
    elif isinstance(sop.target, MemberSelect):
        extent = f" · {stores} 家店 stores"
    own = f" · 按门店时间 per store: {sop.schedule.rule}" if sop.schedule.per_store else ""
    return f"{clock}  {sop.name}  [{via}]{extent}{own}"


def _send_lines(send: PreviewSend) -> list[str]:
    lines: list[str] = []
    if send.store_id:
        lines.append(f"  ▸ {send.store_id} {send.store_name}")
    if send.sop.moment:
        who = "、".join(f"{b.owner_name} ({b.owner})" if b.owner_name else b.owner
                       for b in send.owners)
        lines.append(f"    员工 {who} 在「客户朋友圈」确认发表 (each confirms the post)")
    for batch in send.owners if not send.sop.moment else ():
        who = f"{batch.owner_name} ({batch.owner})" if batch.owner_name else batch.owner
        names = "、".join(g.name + (f" [{','.join(sorted(g.tags))}]" if g.tags else "")
                         for g in batch.groups)
        verb = "提醒后在侧边栏发到" if send.sop.owner_post else "确认发送"
        lines.append(f"    群主 {who} {verb} {len(batch.groups)} 个群: {names}")
    if isinstance(send.sop.target, MemberSelect) and not send.sop.moment:
        lines.append("    客户在发送时按标签从数据库取 (customers resolved from the database)")
    if send.error is not None:
        lines.append(f"    ✗ {send.error}")
        return lines
    assert send.message is not None
    message = send.message
    text = message.robot.content(message.text) if message.robot else message.text
    lines.extend(f"    │ {line}" for line in text.splitlines())
    if message.robot is not None and message.robot.format == "text" and message.robot.mention:
        lines.append(f"    提醒 mention: {', '.join(message.robot.mention)}")
    for attachment in message.attachments:
        kind = attachment["msgtype"]
        body = attachment[kind]
        if kind == "image":
            by_hand = "（群主按链接手动加图）" if send.sop.owner_post else ""
            lines.append(f"    + 图片 image {body.get('pic_url') or body.get('media_id')}{by_hand}")
        elif kind == "link":
            lines.append(f"    + 链接 link 《{body['title']}》 {body['url']}")
        elif kind == "video":
            lines.append(f"    + 视频 video {body['media_id']}")
        else:
            lines.append(f"    + 小程序 miniprogram 《{body['title']}》 {body['page']}")
    if message.dropped_attachments:
        lines.append(f"    (另有 {message.dropped_attachments} 个附件超出 9 个上限，不发)")
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
