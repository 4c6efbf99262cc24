"""Staff commands sent to the bot app: ``话术 <词>``, ``客户 <名字>``, anything else → help.

Store staff live in the WeCom client on their phone; asking the bot app is quicker than
opening a page when they only need the words. Parsing and wording are here; the handler
(`bot.handlers.app_messages`) only passes the text in and sends the answer out.

Answers fit one app message (``message/send`` text, 2048 bytes): long reply texts are cut
with an ellipsis rather than split over several messages, because WeCom drops app messages
past 30 a minute per member and a staff member's next question should still get through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.replies.service import CustomerCard, RepliesService, Suggestion

MAX_MESSAGE_BYTES = 2048
_REPLIES = re.compile(r"^\s*(?:话术|回复|reply|replies)\s*[:：]?\s*(.*)$", re.I | re.S)
_CUSTOMER = re.compile(r"^\s*(?:客户|顾客|customer)\s*[:：]?\s*(.*)$", re.I | re.S)

HELP = (
    "可以这样问我：\n"
    "· 话术 痘痘 —— 按标签或关键词找话术（也可以写 reply acne）\n"
    "· 客户 王丽 —— 看你的客户的名片：门店、标签、群、来源\n"
    "在客户聊天窗口打开侧边栏「话术」，点一下就能直接发给客户。"
)


@dataclass(frozen=True, slots=True)
class Command:
    kind: Literal["replies", "customer", "help"]
    arg: str = ""


def parse(text: str) -> Command:
    """``话术 痘痘`` / ``reply acne`` / ``客户 王丽``; anything else asks for help."""
    if (found := _REPLIES.match(text)) is not None:
        return Command("replies", " ".join(found.group(1).split()))
    if (found := _CUSTOMER.match(text)) is not None:
        return Command("customer", " ".join(found.group(1).split()))
    return Command("help")


async def answer(service: RepliesService, userid: str, text: str, *, top: int = 3) -> str:
    """The app message that answers `text` from staff member `userid`."""
    command = parse(text)
    if command.kind == "replies":
        if not command.arg:
            example = "想找哪类话术？例如：话术 痘痘、话术 坏果、话术 会员日"
            return example + "\n\n" + _categories(service)
        found = await service.for_word(userid, command.arg)
        if not found:
            return (f"没有找到和「{command.arg}」有关的话术。\n换个词试试，例如：话术 售后、"
                    "话术 送礼\n\n" + _categories(service))
        return format_replies(command.arg, found[:top], len(found))
    if command.kind == "customer":
        if not command.arg:
            return "要看哪位客户？例如：客户 王丽"
        cards = await service.find_customers(userid, command.arg)
        if not cards:
            return f"你的客户里没有叫「{command.arg}」的。（只能查看添加了你的客户）"
        if len(cards) > 1:
            lines = [f"找到 {len(cards)} 位客户，请写完整名字："]
            lines += [f"· {c.name}（{c.store_name or '未知门店'}，{c.followed_since[:10]} 添加）"
                      for c in cards]
            return "\n".join(lines)
        card = cards[0]
        tops = await service.top_for_customer(userid, card.external_userid, top)
        return format_card(card, tops)
    return HELP


def _categories(service: RepliesService) -> str:
    return "话术分类：" + "、".join(service.library.categories)


def format_replies(word: str, replies: list[Suggestion], total: int) -> str:
    head = f"「{word}」的话术，最合适的 {len(replies)} 条（共 {total} 条）："
    blocks = [f"{i}.【{r.category}】{r.title}\n{r.text}" for i, r in enumerate(replies, 1)]
    tail = "把【称呼】换成客户的名字再发；在聊天侧边栏里可以一键发送。"
    return fit([head, *blocks, tail])


def format_card(card: CustomerCard, tops: list[Suggestion]) -> str:
    tags = "、".join(f"{g}/{n}" for g, n in card.tags) or "无"
    groups = "；".join(f"{name}（{joined}，{how}）"
                      for name, joined, how in card.groups) or "未进群"
    lines = [
        f"客户：{card.name}",
        f"门店：{card.store_name or '未知'}",
        f"来源渠道：{card.channel or '未知'}，{card.followed_since} 添加你",
        f"标签：{tags}",
        f"所在群：{groups}",
    ]
    if tops:
        lines.append("推荐话术：" + "；".join(f"{r.title}（{r.category}）" for r in tops))
    return fit(["\n".join(lines)])


def fit(blocks: list[str], limit: int = MAX_MESSAGE_BYTES) -> str:
    """Join blocks with blank lines; shorten the longest blocks until it fits `limit` bytes."""
    blocks = list(blocks)
    while len("\n\n".join(blocks).encode("utf-8")) > limit:
        index = max(range(len(blocks)), key=lambda i: len(blocks[i].encode("utf-8")))
        block = blocks[index]
        cut = max(len(block) * 3 // 4, 1)
        blocks[index] = block[:cut].rstrip() + "…" if cut < len(block) else ""
    return "\n\n".join(b for b in blocks if b)
