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

from bot.i18n import t
from bot.replies.service import CustomerCard, RepliesService, Suggestion

MAX_MESSAGE_BYTES = 2048
_REPLIES = re.compile(r"^\s*(?:话术|回复|reply|replies)\s*[:：]?\s*(.*)$", re.I | re.S)
_CUSTOMER = re.compile(r"^\s*(?:客户|顾客|customer)\s*[:：]?\s*(.*)$", re.I | re.S)



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
            return t("app.replies.which") + "\n\n" + _categories(service)
        found = await service.for_word(userid, command.arg)
        if not found:
            return t("app.replies.none", word=command.arg) + "\n\n" + _categories(service)
        return format_replies(command.arg, found[:top], len(found))
    if command.kind == "customer":
        if not command.arg:
            return t("app.customer.which")
        cards = await service.find_customers(userid, command.arg)
        if not cards:
            return t("app.customer.none", name=command.arg)
        if len(cards) > 1:
            lines = [t("app.customer.several", count=len(cards))]
            lines += [t("app.customer.one_of", name=c.name,
                        store=c.store_name or t("app.customer.unknown_store"),
                        since=c.followed_since[:10]) for c in cards]
            return "\n".join(lines)
        card = cards[0]
        tops = await service.top_for_customer(userid, card.external_userid, top)
        return format_card(card, tops)
    return t("app.help")


def _categories(service: RepliesService) -> str:
    return t("app.replies.categories", names=t("app.list_sep").join(service.library.categories))


def format_replies(word: str, replies: list[Suggestion], total: int) -> str:
    head = t("app.replies.head", word=word, count=len(replies), total=total)
    blocks = [f"{i}.【{r.category}】{r.title}\n{r.text}" for i, r in enumerate(replies, 1)]
    return fit([head, *blocks, t("app.replies.tail")])


def format_card(card: CustomerCard, tops: list[Suggestion]) -> str:
    unknown = t("app.card.unknown")
    tags = t("app.list_sep").join(f"{g}/{n}" for g, n in card.tags) or t("app.card.no_tags")
    groups = t("app.card.group_sep").join(
        t("app.card.group", name=name, joined=joined, how=how)
        for name, joined, how in card.groups) or t("app.card.no_groups")
    lines = [
        t("app.card.name", name=card.name),
        t("app.card.store", store=card.store_name or unknown),
        t("app.card.channel", channel=card.channel or unknown, since=card.followed_since),
        t("app.card.tags", tags=tags),
        t("app.card.groups", groups=groups),
    ]
    if tops:
        lines.append(t("app.card.suggested", replies=t("app.card.group_sep").join(
            t("app.card.suggestion", title=r.title, category=r.category) for r in tops)))
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
