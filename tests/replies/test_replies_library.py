"""The 话术 files: checked with file:line:col, `replies check`, reloaded by the running bot."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import pytest

from bot.books.stores import StoreDirectory
from bot.books.yamlfile import OperatorFileErrors
from bot.cli import main
from bot.replies.library import ReplyLibrary
from tests.conftest import REPO, World
from tests.replies_support import MANAGER_0012, Browser, customer

BROKEN = """\
replies:
  typo-reply:
    title: 有错
    category: 售后退换
    text: |
      {{ customer.name }}，您好
      {{ custmer.name }} 再见
  store-unguarded:
    title: 没判断门店
    category: 配送
    text: "{{ store.name }}见"
  bad-link:
    title: 链接
    category: 配送
    text: 你好
    attachments:
      - link: {title: 看看, url: "http://plain.example"}
    colour: red
  Bad_Id:
    title: x
    category: 配送
    text: x
"""


def copy_library(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    return folder / "replies"


def test_the_demo_library_loads():
    library = ReplyLibrary.load(REPO / "templates" / "replies",
                                StoreDirectory.load(REPO / "sop" / "stores.yaml"))
    assert len(library.replies) >= 15
    assert library.categories[:3] == ("售后/退换", "配送", "会员日")
    assert library.canonical("问卷/D") == library.canonical("acne") == "痘痘"


def test_every_problem_is_reported_at_its_line(tmp_path: Path, capsys):
    folder = copy_library(tmp_path)
    (folder / "zz_broken.yaml").write_text(BROKEN, encoding="utf-8")
    with pytest.raises(OperatorFileErrors) as caught:
        ReplyLibrary.load(folder, StoreDirectory.load(REPO / "sop" / "stores.yaml"))
    lines = [str(e).replace(str(folder) + "/", "") for e in caught.value]
    assert lines == [
        "zz_broken.yaml:4:15: replies.typo-reply.category: '售后退换' is not in _library.yaml "
        "(did you mean '售后/退换'?)",
        "zz_broken.yaml:7:7: replies.typo-reply.text: undefined variable 'custmer' "
        "(did you mean 'customer'?)",
        "zz_broken.yaml:11:11: replies.store-unguarded.text: undefined value: 'None' has no "
        "attribute 'name' (this customer has no store: guard with {% if store %})",
        "zz_broken.yaml:17:32: replies.bad-link.attachments[0].link.url: must be an https:// "
        "address (WeCom clients refuse plain http)",
        "zz_broken.yaml:18:13: replies.bad-link: unknown key 'colour' (allowed: attachments, "
        "category, data, keywords, tags, text, title)",
        "zz_broken.yaml:19:3: replies.Bad_Id: a reply id is lower-case letters, digits, - and _ "
        "(e.g. bad-fruit-refund)",
    ]
    assert main(["replies", "check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "zz_broken.yaml:7:7: replies.typo-reply.text" in out
    assert out.rstrip().endswith("6 problems; fix them and run the check again")


def test_ids_are_unique_and_words_mean_one_tag(tmp_path: Path):
    folder = copy_library(tmp_path)
    (folder / "zz_dup.yaml").write_text(
        "replies:\n  not-sweet:\n    title: x\n    category: 配送\n    text: x\n",
        encoding="utf-8")
    index = folder / "_library.yaml"
    index.write_text(index.read_text(encoding="utf-8").replace(
        "  送礼: [gift,", "  送礼: [acne, gift,"), encoding="utf-8")
    with pytest.raises(OperatorFileErrors) as caught:
        ReplyLibrary.load(folder)
    reasons = " | ".join(e.reason for e in caught.value)
    assert "replies.not-sweet: id already used in after_sales.yaml" in reasons
    assert "tags.送礼: 'acne' already means '痘痘'" in reasons


def test_check_command_passes_on_the_repository(capsys):
    assert main(["replies", "check", str(REPO / "templates" / "replies")]) == 0
    out = capsys.readouterr().out
    assert "after_sales.yaml: ok, 4 replies" in out


class TestReload:
    @pytest.fixture
    def bot_overrides(self, tmp_path: Path):
        return {"paths": {"templates_dir": copy_library(tmp_path).parent},
                "replies": {"reload_poll_s": 0.05}}

    async def test_edits_are_picked_up_and_a_bad_edit_keeps_the_last_good(
            self, world: World, caplog):
        folder = world.settings.paths.templates_dir / "replies"
        live = world.runtime.replies
        assert live is not None
        ext = await customer(world, "王丽")
        async with Browser(world, MANAGER_0012) as browser:
            await browser.login()
            extra = folder / "seasonal.yaml"
            extra.write_text("replies:\n  cherry-season:\n    title: 车厘子到了\n"
                             "    category: 果品推荐\n    keywords: [车厘子]\n"
                             "    text: \"{{ customer.name }}，智利车厘子今天到店！\"\n",
                             encoding="utf-8")
            await until(lambda: live.reloads == 1)
            _, data = await browser.replies(ext, q="车厘子")
            assert [r["text"] for r in data["replies"]] == ["王丽，智利车厘子今天到店！"]

            caplog.set_level(logging.ERROR, logger="bot.books.live")
            extra.write_text(extra.read_text(encoding="utf-8").replace(
                "customer.name", "customer.nmae"), encoding="utf-8")
            await until(lambda: live.last_error is not None)
            assert any("seasonal.yaml:6:" in r.getMessage() and "nmae" in r.getMessage()
                       for r in caplog.records)
            _, data = await browser.replies(ext, q="车厘子")
            assert [r["text"] for r in data["replies"]] == ["王丽，智利车厘子今天到店！"]


async def until(condition, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.02)
