"""Dated material: a data file entry that says which day it is for (``date: 2026-12-04``).

The new arrivals are a day's goods: HQ updates `sop/data/new_arrivals.yaml` every evening
for the next morning. An entry with a ``date:`` (in ``default`` or a store's own entry,
which inherits default's) tells templates which day it is from (``data.date``: the
template says "今天刚到" only on that day), and `stale_warnings` tells ``sop check`` when
the next time an SOP sends it is on another day: the groups would get yesterday's list.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from bot.books.yamlfile import error_at
from bot.i18n import t
from bot.sop.book import Sop, SopBook

__all__ = ["DATE_KEY", "stale_warnings"]

DATE_KEY = "date"
LOOK_AHEAD_DAYS = 14



def stale_warnings(book: SopBook, now: datetime) -> list[str]:
    """Per dated data entry: a warning when the first SOP to send it next (per store) does
    so on a day other than its date. Later sends are not judged: HQ updates it before."""
    users: dict[str, list[Sop]] = defaultdict(list)
    for sop in book.enabled():
        if sop.data is not None:
            users[sop.data.name].append(sop)
    found: dict[tuple[str, str, date, date, str], list[str]] = defaultdict(list)
    for sops in users.values():
        data = sops[0].data
        assert data is not None
        reached = {s.name: {store.id for store in book.stores_for(s)} for s in sops}
        for store in book.stores.all():
            dated = (data.for_store(store.id) or {}).get(DATE_KEY)
            reach = [s for s in sops if store.id in reached[s.name]]
            if not isinstance(dated, date) or not reach:
                continue
            nexts = [(slot, s.name) for s in reach
                     if (slot := _next_slot(s, store.id, now)) is not None]
            if nexts and min(nexts)[0].date() != dated:
                slot, name = min(nexts)
                found[(_where(reach[0], store.id), data.name, dated, slot.date(), name)
                      ].append(store.id)
    warnings: list[str] = []
    for (where, file, dated, day, name), ids in sorted(found.items()):
        warnings.append(t("dated.stale" if day > dated else "dated.early", where=where,
                          file=file, dated=dated, sop=name, slot=day, stores=", ".join(ids)))
    return warnings


def _next_slot(sop: Sop, store_id: str, now: datetime) -> datetime | None:
    """The store's next slot of `sop` after `now`, within two weeks."""
    day = now.astimezone(sop.timezone).date()
    for offset in range(LOOK_AHEAD_DAYS):
        for slot in sop.schedule.slots_on(day + timedelta(days=offset)):
            stores = sop.schedule.stores_at(slot)
            if slot > now and (stores is None or store_id in stores):
                return slot
    return None


def _where(sop: Sop, store_id: str) -> str:
    """file:line of the ``date:`` the store's entry uses (its own, else default's)."""
    assert sop.data is not None
    own = sop.data.stores.get(store_id)
    key = (store_id,) if own is not None and DATE_KEY in own else ("default",)
    found = error_at(sop.data.path, sop.data.raw, (*key, DATE_KEY), "")
    return f"{found.path}:{found.line}"
