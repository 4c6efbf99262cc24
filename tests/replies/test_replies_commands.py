"""Staff ask the bot app: `话术 痘痘`, `reply acne`, `客户 王丽`, anything else → help."""

from __future__ import annotations

import pytest

from bot.replies.commands import MAX_MESSAGE_BYTES, fit, parse
from tests.conftest import World
from tests.replies_support import MANAGER_0012, MANAGER_0015, customer

pytestmark = pytest.mark.usefixtures("chinese")  # staff read the app in Chinese


async def ask(world: World, userid: str, text: str) -> str:
    before = len(world.sim.app_messages_for(userid))
    world.sim.staff_sends_app_text(userid, text)
    await world.settle()
    messages = world.sim.app_messages_for(userid)
    assert len(messages) == before + 1, "the bot answered once"
    return messages[-1].content


async def test_replies_for_a_tag_word_in_chinese_or_english(world: World):
    answer = await ask(world, MANAGER_0012, "话术 痘痘")
    assert answer.startswith("「痘痘」的话术")
    assert "长痘期间怎么吃水果" in answer and "清爽水果周卡" in answer
    assert "【称呼】" in answer  # no customer in view: a placeholder where the name goes
    assert "天钥桥路店" in answer  # the staff member's own store
    english = await ask(world, MANAGER_0012, "reply acne")
    assert "长痘期间怎么吃水果" in english
    [message] = world.sim.app_messages_for(MANAGER_0012)[:1]
    assert message.agentid == world.sim.agent_id and message.msgtype == "text"
    assert len(answer.encode()) <= MAX_MESSAGE_BYTES


async def test_unknown_word_and_empty_command(world: World):
    assert "没有找到和「火星水果」有关的话术" in await ask(world, MANAGER_0012, "话术 火星水果")
    assert "想找哪类话术" in await ask(world, MANAGER_0012, "话术")


async def test_customer_card_only_for_ones_own_customers(world: World):
    await customer(world, "王丽", tags=(("问卷", "D"),))
    await customer(world, "李雷")  # the channel's tag is common, the questionnaire code rare
    card = await ask(world, MANAGER_0012, "客户 王丽")
    assert "客户：王丽" in card and "门店：天钥桥路店" in card and "store-counter" in card
    assert "问卷/D" in card and "推荐话术：长痘期间怎么吃水果" in card
    other = await ask(world, MANAGER_0015, "客户 王丽")
    assert "没有叫「王丽」的" in other and "天钥桥路店" not in other


async def test_several_customers_with_the_name_are_listed(world: World):
    await customer(world, "王丽")
    await customer(world, "王丽娟")
    answer = await ask(world, MANAGER_0012, "customer 王丽")
    assert answer.startswith("找到 2 位客户")


async def test_anything_else_gets_the_help(world: World):
    answer = await ask(world, MANAGER_0012, "你好")
    assert "话术 痘痘" in answer and "客户 王丽" in answer
    assert world.sim.call_count("message/send") == 1


class TestPerMemberLimit:
    @pytest.fixture
    def bot_overrides(self):
        return {"replies": {"app_msg_per_minute": 3}}

    async def test_no_more_answers_than_wecom_delivers(self, world: World):
        for i in range(5):
            world.sim.staff_sends_app_text(MANAGER_0012, f"问题 {i}")
        world.sim.staff_sends_app_text(MANAGER_0015, "话术 送礼")
        await world.settle()
        assert len(world.sim.app_messages_for(MANAGER_0012, include_dropped=True)) == 3
        assert len(world.sim.app_messages_for(MANAGER_0015)) == 1  # a limit per member
        assert world.runtime.services.app_messenger.held_back == 2


def test_parse():
    assert parse("话术：痘痘").arg == "痘痘"
    assert parse("  REPLY  gold   member ").arg == "gold member"
    assert parse("客户 王丽").kind == "customer"
    assert parse("话术啊").kind == "replies"  # tolerant: "啊" is searched, finds nothing
    assert parse("帮我查一下").kind == "help"


def test_fit_cuts_long_blocks_to_one_message():
    text = fit(["头", "长" * 2000, "尾"])
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    assert text.startswith("头\n\n长") and text.endswith("…\n\n尾")
