"""``sop check``'s 群发 quota check: every class of group the SOPs target, per quota period.

WeCom delivers a customer group at most so many 群发 per period (by default as many per
natural month as the month has days; reference §6); the outbox holds back the rest
(`bot.outbox.planner`). What a group is due depends on its store (which SOPs reach it, at
which of its own times) and on its group tags (``to: {groups: {tags: [宝妈]}}``). So the
check counts one stand-in group per *class*: per store, the tags all its groups carry
(``stores:`` rules) plus each combination of the tags some of them may carry (names,
owners, chats), among the tags the 群发 SOPs name. Owner posts, robots and one-to-one sends
to members are not group 群发 and are not counted.

The periods are the quota periods (`bot.outbox.quota.quota_period`, the rule the outbox
uses) that meet the days checked: by default today and the next 35 days, so this month
and the next under the monthly rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import combinations
from zoneinfo import ZoneInfo

from bot.books.stores import StoreDirectory
from bot.i18n import t
from bot.outbox.quota import quota_period
from bot.sop.book import GroupSelect, SopBook
from bot.sop.group_tags import GroupRow
from bot.sop.preview import group_send_counts

__all__ = ["CHECK_DAYS", "GroupClass", "group_classes", "quota_warnings"]

CHECK_DAYS = 35
MAX_OPTIONAL_TAGS = 6  # 2^6 classes per store at most; more tags are counted one by one
QUOTA_SOURCE = "wecom-reference §6"



@dataclass(frozen=True, slots=True)
class GroupClass:
    """Groups of one store with the same SOP-relevant tags, as one stand-in row."""

    store_id: str
    tags: frozenset[str]
    row: GroupRow


def _named_tags(book: SopBook) -> frozenset[str]:
    """The group tags the 群发 SOPs select or exclude by: what can change a group's count."""
    named: set[str] = set()
    for sop in book.enabled():
        if isinstance(sop.target, GroupSelect) and sop.via == "group_send":
            named |= set(sop.target.tags or ()) | set(sop.target.exclude_tags)
    return frozenset(named)


def group_classes(book: SopBook, stores: StoreDirectory) -> list[GroupClass]:
    """One stand-in group per store and combination of the tags the 群发 SOPs name."""
    named = _named_tags(book)
    found: list[GroupClass] = []
    for store in stores.all():
        owners = [store.manager_userid, *(m["userid"] for m in stores.staff_rows()
                                          if m["store_id"] == store.id)]
        forced, maybe = book.group_tags.possible(store.id, [o for o in owners if o])
        forced, optional = forced & named, sorted(maybe & named)
        combos: list[tuple[str, ...]] = [()]
        if len(optional) <= MAX_OPTIONAL_TAGS:
            combos += [c for n in range(1, len(optional) + 1)
                       for c in combinations(optional, n)]
        else:
            combos += [(tag,) for tag in optional]
        for combo in combos:
            tags = forced | frozenset(combo)
            chat = f"class-{store.id}-{'+'.join(sorted(tags))}"
            found.append(GroupClass(store.id, tags, GroupRow(
                chat, store.group_name, store.manager_userid, store.id, tags)))
    return found


def quota_warnings(book: SopBook, stores: StoreDirectory, rule: str, start: date,
                   days: int = CHECK_DAYS) -> list[str]:
    """One warning per quota period and class of group due more 群发 than WeCom delivers."""
    sends = [sop for sop in book.enabled()
             if isinstance(sop.target, GroupSelect) and sop.via == "group_send"]
    if not sends:
        return []
    classes = group_classes(book, stores)
    named = _named_tags(book)
    # (class tags, count, limit, stores) -> the periods it happens in: one line for all
    found: dict[tuple[frozenset[str], int, int, str], list[str]] = defaultdict(list)
    for label, period_days, limit in _periods(rule, start, days, sends[0].timezone):
        counts = group_send_counts(book, [c.row for c in classes], period_days)
        over: dict[tuple[frozenset[str], int], set[str]] = defaultdict(set)
        for klass in classes:
            count = counts.get(klass.row.chat_id, 0)
            if count > limit:
                over[(klass.tags, count)].add(klass.store_id)
        for (tags, count), ids in over.items():
            found[(tags, count, limit, ", ".join(sorted(ids)))].append(label)
    return [t("quota.over", period=_periods_words(labels), klass=_class_words(tags, named),
              count=count, limit=limit, rule=rule, source=QUOTA_SOURCE, stores=ids)
            for (tags, count, limit, ids), labels in sorted(found.items(), key=_worst_first)]


def _worst_first(item: tuple[tuple[frozenset[str], int, int, str], list[str]]
                 ) -> tuple[str, int, list[str]]:
    (tags, count, _limit, _ids), labels = item
    return labels[0], -count, sorted(tags)


def _periods_words(labels: list[str]) -> str:
    shown = ", ".join(labels[:4])
    return shown + (t("quota.more_periods", count=len(labels)) if len(labels) > 4 else "")


def _class_words(tags: frozenset[str], named: frozenset[str]) -> str:
    if tags:
        return t("quota.class_tags", tags=" + ".join(sorted(tags)))
    if named:
        return t("quota.class_plain", tags=t("app.list_sep").join(sorted(named)))
    return t("quota.class_all")


def _periods(rule: str, start: date, days: int, zone: ZoneInfo
             ) -> list[tuple[str, list[date], int]]:
    """The quota periods (label, their days, limit) that meet [start, start + days)."""
    seen: dict[str, tuple[str, list[date], int]] = {}
    for offset in range(max(days, 1)):
        noon = datetime.combine(start + timedelta(days=offset), time(12), tzinfo=zone)
        period = quota_period(rule, noon, zone)
        if period.label in seen:
            continue
        first = datetime.fromtimestamp(period.start, zone).date()
        last = datetime.fromtimestamp(period.end, zone).date()
        span = [first + timedelta(days=i) for i in range((last - first).days)]
        seen[period.label] = (period.label, span, period.limit)
    return list(seen.values())
