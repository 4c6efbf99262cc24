"""``sop check``: owner posts timed outside a store's opening hours.

An owner post (``via: owner_post``) is posted by the store's manager from the group's
sidebar, so it should fall while the store is open: a goodnight at 21:50 for a store that
closes at 21:30 reaches a manager who has gone home (and says the day is over in a store
still open, the other way round). Per-store times (``store.closes - 30m``) avoid both.
"""

from __future__ import annotations

from collections import defaultdict

from bot.books.stores import Store
from bot.i18n import t
from bot.sop.book import SopBook
from bot.sop.schedule import parse_clock

__all__ = ["hours_warnings"]



def hours_warnings(book: SopBook) -> list[str]:
    """One warning per owner-post SOP and time that falls outside some stores' hours."""
    warnings: list[str] = []
    for sop in book.enabled():
        if not sop.owner_post:
            continue
        outside: dict[str, list[str]] = defaultdict(list)
        for store in book.stores_for(sop):
            for at in sop.schedule.times_for(store.id):
                if not _open_at(store, at.strftime("%H:%M")):
                    outside[at.strftime("%H:%M")].append(store.id)
        for clock, ids in sorted(outside.items()):
            warnings.append(t("hours.outside", where=sop.where, sop=sop.name, time=clock,
                              stores=", ".join(ids)))
    return warnings


def _open_at(store: Store, clock: str) -> bool:
    opens, closes, at = (parse_clock(c) for c in (store.opens, store.closes, clock))
    if opens <= closes:
        return opens <= at <= closes
    return at >= opens or at <= closes  # open past midnight
