"""What customer groups (and customers) saw: group sends and robot messages, in order.

Both 群发 and group robots write here, so `group_messages(chat_id)` is the group's own view
of its timeline — the thing a test or a benchmark asserts on. The inbox also spots
doubles as they happen: the same content reaching the same group (or customer) through two
different group-send msgids, which is what a bot that re-creates an add_msg_template whose
answer it lost would cause. Counting them on arrival keeps `stats()` O(1).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

Via = Literal["group_send", "robot", "member"]  # member: staff posting from the client


@dataclass(frozen=True, slots=True)
class GroupMessage:
    """One message as its recipient saw it.

    `source` is the group-send msgid, the robot's webhook key, or ``sendChatMessage`` for a
    staff member posting from their client; `sender` is the member who confirmed the group
    send or posted it, or the robot's name. Group sends carry msgtype "msg_template"
    (text plus attachments, as add_msg_template took them); robots carry their msgtype.
    """

    chat_id: str  # "" for a group send to a single customer
    at: float  # time.time() when it arrived
    via: Via
    source: str
    sender: str
    msgtype: str
    text: str
    attachments: tuple[dict[str, Any], ...] = ()
    mentions: tuple[str, ...] = ()  # robot @-mentions: userids, mobiles or "@all"
    external_userid: str = ""  # the customer, for single (客户) group sends


class Inbox:
    """Per-recipient timelines plus an on-the-fly count of doubled group-send content."""

    def __init__(self) -> None:
        self._chats: dict[str, list[GroupMessage]] = {}
        self._customers: dict[str, list[GroupMessage]] = {}
        # (recipient, content key) -> msgids that delivered that content there
        self._seen: dict[tuple[str, str], list[str]] = {}
        self.group_sends = 0  # group-send messages delivered (to groups or customers)
        self.robot_messages = 0
        self.member_messages = 0  # posted by staff from their client (sidebar sendChatMessage)
        self.doubles = 0  # deliveries of content the recipient already had from another msgid

    def add(self, message: GroupMessage, content_key: str | None = None) -> None:
        """Record one delivery; `content_key` (group sends only) identifies its content."""
        if message.chat_id:
            recipient = message.chat_id
            self._chats.setdefault(recipient, []).append(message)
        else:
            recipient = message.external_userid
            self._customers.setdefault(recipient, []).append(message)
        if message.via == "robot":
            self.robot_messages += 1
            return
        if message.via == "member":
            self.member_messages += 1
            return
        self.group_sends += 1
        if content_key is not None:
            msgids = self._seen.setdefault((recipient, content_key), [])
            if msgids and message.source not in msgids:
                self.doubles += 1
            msgids.append(message.source)

    def for_chat(self, chat_id: str) -> list[GroupMessage]:
        return list(self._chats.get(chat_id, ()))

    def for_customer(self, external_userid: str) -> list[GroupMessage]:
        return list(self._customers.get(external_userid, ()))

    def counts(self) -> dict[str, dict[str, int]]:
        """recipient (chat_id or external_userid) -> {msgid: group-send messages received}."""
        result: dict[str, dict[str, int]] = {}
        for timelines in (self._chats, self._customers):
            for recipient, messages in timelines.items():
                per_msgid = Counter(m.source for m in messages if m.via == "group_send")
                if per_msgid:
                    result[recipient] = dict(per_msgid)
        return result

    def doubled(self) -> dict[str, list[list[str]]]:
        """recipient -> groups of distinct msgids that each delivered the same content."""
        result: dict[str, list[list[str]]] = {}
        for (recipient, _), msgids in self._seen.items():
            distinct = list(dict.fromkeys(msgids))
            if len(distinct) > 1:
                result.setdefault(recipient, []).append(distinct)
        return result
