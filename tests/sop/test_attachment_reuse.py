"""The load check's attachments made once per distinct input (bot/sop/text_reuse.py).

Each store's attachments put together from one marked render must be exactly the store's
own render, and what only a store's own values show (a store name over the link title's
byte limit) must still be found at load, naming the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import OperatorFileErrors
from bot.sop import SopBook
from bot.sop.attachments import render_attachments
from bot.sop.text_reuse import AttachmentReuse
from tests.sop.test_chain_checks import copy_repo, shipped
from tests.sop.test_sop_files import MONDAY, ROBOT_KEYS
from tests.sop.test_text_reuse import shipped_samples


def test_every_shipped_store_gets_its_own_attachments() -> None:
    book = shipped()
    reused = 0
    for sop in book:
        made = AttachmentReuse(book.templates, sop)
        for store, day, slot, entry, context in shipped_samples(book, sop):
            found = made.attachments(store, slot, entry, context)
            if found is not None:
                reused += 1
                own = render_attachments(book.templates, sop, store.id, context)
                assert found == own, (sop.name, store.id, day)
    assert reused > 50  # the shipped links name the store (``?store=``): they are reused


def test_a_store_name_over_the_link_title_limit_is_still_found(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    weekly = root / "sop" / "weekly.yaml"
    text = weekly.read_text("utf-8")
    weekly.write_text(text.replace("title: 周末亲子水果｜宝宝爱吃的都在这",
                                   'title: "{{ store.name }}｜宝宝爱吃的都在这"'), "utf-8")
    stores = root / "sop" / "stores.yaml"
    stores.write_text(stores.read_text("utf-8").replace("name: 天钥桥路店",
                                                        "name: 天钥桥路" + "长" * 60 + "店"),
                      "utf-8")
    with pytest.raises(OperatorFileErrors) as failed:
        SopBook.load(root / "sop", TemplateLibrary(root / "templates"),
                     StoreDirectory.load(stores), environ=ROBOT_KEYS, today=MONDAY)
    message = str(failed.value)
    assert "weekend-family" in message
    assert "store 0012" in message
    assert "title" in message
