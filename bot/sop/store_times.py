"""Per-store SOP times: ``at: "store.closes - 30m"``, ``at: "data.window.start - 20m"``.

A store that closes at 23:00 should hear goodnight later than one closing at 22:00, and a
store whose flash sale runs 17:00-19:00 should announce it before 17:00, not with everyone
else at 14:40. So an ``at`` entry may name a time each store has instead of a clock time:

* ``store.opens`` / ``store.closes``: the store's hours in `sop/stores.yaml`;
* ``data.<key>.<key>``: a time in the SOP's own data file, as the store's template sees it
  (``data.window.start`` in flash_sale.yaml: the default window, or the store's own);

optionally moved by ``+ 10m`` / ``- 30m`` / ``- 1h``. Each store then fires at its own time;
the scheduler has one slot per distinct time (`bot.sop.schedule.Schedule.per_store`), and a
slot goes to the stores whose time it is (`Schedule.stores_at`). Resolved when the SOP file
loads: a store without the named time is an error naming the store and where its entry is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from bot.books.stores import Store
from bot.books.yamlfile import error_at
from bot.i18n import t
from bot.sop.datafiles import SopData
from bot.sop.schedule import parse_clock
from bot.sop.spec import parse_duration

__all__ = ["STORE_FIELDS", "StoreTime", "is_store_time", "parse_store_time", "resolve"]

STORE_FIELDS = ("opens", "closes")  # the times stores.yaml gives every store
_EXPR_RE = re.compile(
    r"(store|data)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*(?:([+-])\s*([0-9hms ]+))?")
_SHOWN_STORES = 5  # an error names this many stores, then "and N more"


@dataclass(frozen=True, slots=True)
class StoreTime:
    """One ``at`` entry that each store resolves for itself."""

    source: str  # store | data
    path: tuple[str, ...]  # ("closes",) or ("window", "start")
    offset: timedelta
    text: str  # as written, for the schedule's description

    def value(self, store: Store, data: Mapping[str, Any] | None,
              seen: dict[tuple[StoreTime, str], time] | None = None) -> tuple[time | None, str]:
        """This store's time, or (None, why not); `seen`: the times already worked out
        (10,000 stores close at a few times)."""
        if self.source == "store":
            found: Any = getattr(store, self.path[0])
        else:
            found = data
            for key in self.path:
                found = found.get(key) if isinstance(found, Mapping) else None
        if found is None:
            return None, t("times.has_no", path=".".join(self.path))
        if seen is not None and (self, str(found)) in seen:
            return seen[self, str(found)], ""
        at, why = self._moved(found)
        if seen is not None and at is not None:
            seen[self, str(found)] = at
        return at, why

    def _moved(self, found: Any) -> tuple[time | None, str]:
        try:
            base = parse_clock(str(found))
        except ValueError:
            return None, t("times.not_a_time", path=".".join(self.path), found=repr(found))
        moved = datetime.combine(datetime.min.date() + timedelta(days=1), base) + self.offset
        if moved.date() != datetime.min.date() + timedelta(days=1):
            return None, t("times.next_day", time=f"{base:%H:%M}",
                           offset=self.text.split(" ", 1)[-1])
        return moved.time(), ""


def is_store_time(text: str) -> bool:
    return text.strip().startswith(("store.", "data."))


def parse_store_time(text: str) -> StoreTime:
    """``"store.closes - 30m"`` -> `StoreTime`; ValueError with an operator's reason."""
    found = _EXPR_RE.fullmatch(text.strip())
    if found is None:
        raise ValueError(t("times.expected", found=repr(text)))
    source, dotted, sign, amount = found.groups()
    path = tuple(dotted.strip(".").split("."))
    if source == "store" and (len(path) != 1 or path[0] not in STORE_FIELDS):
        raise ValueError(t("times.store_fields", text=repr(text)))
    offset = timedelta(0)
    if sign is not None:
        offset = parse_duration(amount.replace(" ", ""))
        offset = -offset if sign == "-" else offset
    return StoreTime(source, path, offset, " ".join(text.split()))


Fail = Callable[..., None]


def resolve(entries: Sequence[str], stores: Sequence[Store], data: SopData | None,
            fail: Fail) -> tuple[tuple[str, tuple[time, ...]], ...]:
    """Every reached store's times for these ``at`` entries (clock times or per-store);
    a store that lacks one is reported through `fail` at ``at``, with its entry's place."""
    parsed = [parse_store_time(e) if is_store_time(e) else parse_clock(e) for e in entries]
    table: list[tuple[str, tuple[time, ...]]] = []
    missing: list[str] = []
    seen: dict[tuple[StoreTime, str], time] = {}
    for store in stores:
        own = data.for_store(store.id) if data is not None else None
        times: set[time] = set()
        for entry in parsed:
            if isinstance(entry, time):
                times.add(entry)
                continue
            if entry.source == "data" and data is None:
                fail(("at",), t("times.needs_data", text=entry.text))
                return ()
            at, why = entry.value(store, own, seen)
            if at is None:
                missing.append(t("times.store_missing", store=store.id, why=why,
                                 where=_where(store, data, entry)))
            else:
                times.add(at)
        table.append((store.id, tuple(sorted(times))))
    if missing:
        more = (t("times.more", count=len(missing) - _SHOWN_STORES)
                if len(missing) > _SHOWN_STORES else "")
        fail(("at",), t("times.not_every_store",
                        stores=t("times.sep").join(missing[:_SHOWN_STORES]) + more))
    return tuple(table)


def _where(store: Store, data: SopData | None, entry: StoreTime) -> str:
    """file:line of the entry that should hold the time: the store's data, or stores.yaml."""
    if entry.source == "data" and data is not None:
        found = error_at(data.path, data.raw, data.source_of(store.id), "", at_key=True)
        return f"{data.path}:{found.line}"
    return f"stores.yaml '{store.id}'"
