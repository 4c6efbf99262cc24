"""Group robots (群机器人): `POST /cgi-bin/webhook/send?key=KEY`, no access_token.

A robot belongs to one group and is known by its webhook key; the simulator registers
them (`add_robot`), since WeCom creates them in the client. Message shapes and limits are
the reference's (§4, S14/S8): text ≤ 2048 B with mentioned_list / mentioned_mobile_list
("@all" allowed), markdown ≤ 4096 B with `<@userid>` mentions, news with 1..8 articles,
image as base64 + md5 (≤ 2 MB, JPG/PNG). Each robot may send `robot_per_minute` messages
per `rate_window_s`, counted over a sliding window; past it WeCom answers 45009 and the
message is not delivered. Refused messages do not count towards the window (UNCONFIRMED),
so a client that backs off gets through once the window has moved on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import codes
from .api import ApiRequest, Handler
from .codes import ApiError
from .options import SimOptions
from .records import GroupMessage, Inbox
from .state import World

TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
MAX_ARTICLES = 8
IMAGE_MAX_BYTES = 2 * 1024 * 1024
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # JPG, PNG
_MENTION = re.compile(r"<@([^<>\s]+)>")


@dataclass
class Robot:
    key: str
    chat_id: str
    name: str
    customer_group: bool  # it sits in a simulated customer group: gone when the group is
    sent: deque[float] = field(default_factory=deque)  # monotonic stamps in the window
    removed: bool = False
    delivered: int = 0
    rate_limited: int = 0


@dataclass(frozen=True, slots=True)
class _Parsed:
    msgtype: str
    text: str
    attachments: tuple[dict[str, Any], ...] = ()
    mentions: tuple[str, ...] = ()


def _content(payload: Any, limit: int) -> str:
    content = payload.get("content") if isinstance(payload, dict) else None
    if not isinstance(content, str) or not content:
        raise ApiError(codes.EMPTY_CONTENT)
    if len(content.encode()) > limit:
        raise ApiError(codes.CONTENT_TOO_LONG, f"content over {limit} B")
    return content


def _mention_list(payload: dict[str, Any], name: str) -> list[str]:
    value = payload.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(codes.INVALID_PARAM, f"{name} must be a list of strings")
    return value


def parse_message(body: dict[str, Any]) -> _Parsed:
    """Check a webhook body; the error WeCom would give, or what the group will show."""
    msgtype = body.get("msgtype")
    payload = body.get(msgtype) if isinstance(msgtype, str) else None
    if msgtype == "text":
        content = _content(payload, TEXT_MAX_BYTES)
        assert isinstance(payload, dict)
        mentions = (_mention_list(payload, "mentioned_list")
                    + _mention_list(payload, "mentioned_mobile_list"))
        return _Parsed("text", content, mentions=tuple(dict.fromkeys(mentions)))
    if msgtype == "markdown":
        content = _content(payload, MARKDOWN_MAX_BYTES)
        return _Parsed("markdown", content,
                       mentions=tuple(dict.fromkeys(_MENTION.findall(content))))
    if msgtype == "news":
        articles = payload.get("articles") if isinstance(payload, dict) else None
        if not isinstance(articles, list) or not articles:
            raise ApiError(codes.INVALID_PARAM, "news.articles must hold 1..8 articles")
        if len(articles) > MAX_ARTICLES:
            raise ApiError(codes.TOO_MANY_ARTICLES)
        for article in articles:
            if not isinstance(article, dict) or not all(
                    isinstance(article.get(f), str) and article.get(f) for f in ("title", "url")):
                raise ApiError(codes.INVALID_PARAM, "each article needs a title and a url")
        return _Parsed("news", "\n".join(a["title"] for a in articles), tuple(articles))
    if msgtype == "image":
        return _Parsed("image", "", (_image(payload),))
    # file / voice / template_card need webhook/upload_media or cards: not simulated.
    raise ApiError(codes.INVALID_MSGTYPE, f"msgtype {msgtype!r} is not simulated")


def _image(payload: Any) -> dict[str, Any]:
    data = payload.get("base64") if isinstance(payload, dict) else None
    md5 = payload.get("md5") if isinstance(payload, dict) else None
    if not isinstance(data, str) or not data or not isinstance(md5, str) or not md5:
        raise ApiError(codes.INVALID_PARAM, "image.base64 and image.md5 required")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(codes.INVALID_PARAM, "image.base64 is not base64") from None
    digest = hashlib.md5(raw, usedforsecurity=False).hexdigest()  # WeCom's integrity check
    if digest != md5.lower():
        raise ApiError(codes.MD5_MISMATCH)
    if len(raw) > IMAGE_MAX_BYTES:
        raise ApiError(codes.MEDIA_TOO_LARGE, "image over 2 MB")
    if not raw.startswith(_IMAGE_MAGIC):
        raise ApiError(codes.INVALID_MEDIA_TYPE, "image must be JPG or PNG")
    return {"msgtype": "image", "md5": digest, "bytes": len(raw)}


class Robots:
    """Registered robots, their send windows, and the webhook/send handler."""

    def __init__(self, world: World, inbox: Inbox, options: SimOptions,
                 settle: Callable[[], None], *,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.world = world
        self.inbox = inbox
        self.options = options
        self._settle = settle  # group sends that came due first land first in the timeline
        self._wall = wall
        self._mono = monotonic
        self._robots: dict[str, Robot] = {}

    def routes(self) -> dict[str, tuple[str, Handler]]:
        return {"webhook/send": ("POST", self.webhook_send)}

    def add(self, chat_id: str, key: str | None = None, name: str = "") -> str:
        """Put a robot in `chat_id`; returns its webhook key (a UUID, as WeCom's look)."""
        if key is None:
            key = str(uuid.UUID(int=self.world.rng.getrandbits(128), version=4))
        if key in self._robots:
            raise ValueError(f"robot key {key!r} exists")
        self._robots[key] = Robot(key, chat_id, name or f"robot-{key[:8]}",
                                  customer_group=chat_id in self.world.chats)
        return key

    def remove(self, key: str) -> None:
        """Take the robot out of its group: its key answers 93000 from now on."""
        robot = self._robots.get(key)
        if robot is None:
            raise ValueError(f"unknown robot key {key!r}")
        robot.removed = True

    def all(self) -> list[Robot]:
        return list(self._robots.values())

    def webhook_send(self, req: ApiRequest) -> dict[str, Any]:
        robot = self._robots.get(req.query.get("key", ""))
        if robot is None or robot.removed or (
                robot.customer_group and robot.chat_id not in self.world.chats):
            raise ApiError(codes.ROBOT_INVALID)
        parsed = parse_message(req.body)
        now = self._mono()
        window = self.options.rate_window_s
        while robot.sent and now - robot.sent[0] >= window:
            robot.sent.popleft()
        if len(robot.sent) >= self.options.robot_per_minute:
            robot.rate_limited += 1
            raise ApiError(codes.FREQUENCY_LIMITED,
                           f"robot sends at most {self.options.robot_per_minute} per window")
        robot.sent.append(now)
        self._settle()
        robot.delivered += 1
        self.inbox.add(GroupMessage(robot.chat_id, self._wall(), "robot", robot.key, robot.name,
                                    parsed.msgtype, parsed.text, parsed.attachments,
                                    parsed.mentions))
        return {}

    def stats(self) -> dict[str, int]:
        return {"robots": sum(1 for r in self._robots.values() if not r.removed),
                "messages": sum(r.delivered for r in self._robots.values()),
                "rate_limited": sum(r.rate_limited for r in self._robots.values())}
