"""The bot app answers staff in the operators' language: Chinese by default, English by the
setting (through the simulator, as staff send it)."""

from __future__ import annotations

from bot.i18n import speaking
from tests.conftest import World
from tests.replies.test_replies_commands import ask
from tests.replies_support import MANAGER_0012


async def test_the_app_answers_in_chinese_by_default_and_english_by_setting(world: World):
    with speaking("zh"):
        help_zh = await ask(world, MANAGER_0012, "你好")
        none_zh = await ask(world, MANAGER_0012, "客户 不存在的人")
    assert help_zh.startswith("可以这样问我：")
    assert none_zh == "你的客户里没有叫「不存在的人」的。（只能查看添加了你的客户）"
    with speaking("en"):
        help_en = await ask(world, MANAGER_0012, "hello")
        head = await ask(world, MANAGER_0012, "话术 痘痘")
    assert help_en.startswith("You can ask me:")
    assert head.startswith("Replies for「痘痘」, the best ")
