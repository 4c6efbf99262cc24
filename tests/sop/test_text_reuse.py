"""The load check's message text made once per distinct input (bot/sop/text_reuse.py).

Each store's text put together from one marked render must be exactly the store's own
render, and what only a store's own values show (a long name over WeCom's byte limit) must
still be found at load, naming the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from bot.books.stores import Store, StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import OperatorFileErrors
from bot.sop import SopBook
from bot.sop.checks import check_dates
from bot.sop.model import Sop
from bot.sop.text_reuse import TextReuse, template_shape
from tests.sop.test_chain_checks import copy_repo, shipped
from tests.sop.test_sop_files import MONDAY, ROBOT_KEYS


class Sample(NamedTuple):
    store: Store
    day: date
    slot: datetime
    entry: tuple[str | int, ...] | None
    context: dict[str, Any]


def shipped_samples(book: SopBook, sop: Sop) -> Iterator[Sample]:
    """Every store of `sop` on each day the check samples: what the check renders."""
    for store, day in ((s, d) for s in book.stores_for(sop)
                       for d in check_dates(sop, MONDAY, 35)):
        slot = sop.schedule.slots_on(day)[0]
        data = sop.data.for_store(store.id) if sop.data is not None else None
        entry = sop.data.source_of(store.id) if sop.data is not None else None
        yield Sample(store, day, slot, entry, book.context(sop, store, slot, data))


def test_every_shipped_sample_is_the_stores_own_render() -> None:
    book = shipped()
    reused = 0
    for sop in book:
        text = TextReuse(book.templates, sop.template)
        for store, day, _slot, entry, context in shipped_samples(book, sop):
            made = text.text(store, day, entry, context)
            if made is not None:
                reused += 1
                assert made == book.templates.render(sop.template, context), (sop.name, day)
    assert reused > 100  # the shipped templates print store fields: they are reused


def test_a_store_name_over_the_byte_limit_is_still_found(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    path = root / "sop" / "stores.yaml"
    path.write_text(path.read_text("utf-8").replace("name: 天钥桥路店", "name: " + "长" * 1500),
                    "utf-8")
    with pytest.raises(OperatorFileErrors) as failed:
        SopBook.load(root / "sop", TemplateLibrary(root / "templates"),
                     StoreDirectory.load(path), environ=ROBOT_KEYS, today=MONDAY)
    assert "store 0012" in str(failed.value)
    assert "bytes" in str(failed.value)


@pytest.mark.parametrize(("source", "printed", "read"), [
    ("{{ store.name }}，{{ staff.name }}", {("store", "name"), ("staff", "name")}, set()),
    ("{{ store.name | length }}{{ store.name }}", set(), {("store", "name")}),
    ("{% if store.opens > time %}{{ store.opens }}{% endif %}", set(), {("store", "opens")}),
    ("{{ store.hours }}", {("store", "opens"), ("store", "closes")}, set()),
    ("{% set s = store %}{{ s.name }}", None, None),
    ("{{ store['name'] }}", None, None),
    ("{{ store.nmae }}", None, None),
    ("{% include 'x.j2' %}{{ store.name }}", None, None),
    ("{{ [store] | map(attribute='name') | join }}", None, None),
])
def test_what_qualifies(tmp_path: Path, source: str, printed: set[tuple[str, str]] | None,
                        read: set[tuple[str, str]] | None) -> None:
    (tmp_path / "t.j2").write_text(source, "utf-8")
    shape = template_shape(TemplateLibrary(tmp_path), "t.j2")
    if printed is None:
        assert shape is None
    else:
        assert shape is not None
        assert (set(shape.printed), set(shape.read)) == (printed, read)
