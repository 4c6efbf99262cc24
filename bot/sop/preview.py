"""What the SOPs will send on one day: the data behind ``python -m bot sop preview``.

An operator who edits a template or a data file wants to see the result before 08:30 sends
it to every store's groups. `build_preview` renders every enabled SOP for every store it
reaches on a date, exactly as the scheduler would (same `SopBook.render`, same group
selection), and lays it out the way the sends happen: for ``group_send`` one
``add_msg_template`` per group owner and store (the owner confirms it in 群发助手), for a
robot one webhook post. `bot.sop.preview_text` prints it for people and
as JSON for tools.

`group_send_counts` counts how many 群发 each group is due over some days, which is what
WeCom limits per group (wecom-reference §6); ``sop check`` warns with it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.i18n import t
from bot.moments.plan import moment_body, store_staff
from bot.sop.book import GroupSelect, MemberSelect, Sop, SopBook, SopError, SopMessage
from bot.sop.group_tags import GroupRow

__all__ = [
    "OwnerBatch",
    "Preview",
    "PreviewSend",
    "build_preview",
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
        why = (t("preview.no_group_tagged", time=f"{slot:%H:%M}",
                 tags=t("app.list_sep").join(sorted(sop.target.tags))) if sop.target.tags
               else t("preview.no_group", time=f"{slot:%H:%M}"))
        preview.skipped.append((sop.name, why))
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
                (sop.name, t("preview.no_data", store=sid, data=sop.data.name))
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
