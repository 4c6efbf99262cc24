"""The 群发 routes below /cgi-bin/externalcontact/ (reference §4): request checks and JSON.

Validation happens here, before `GroupSends` is touched, so a rejected request changes
nothing — the same rule as the rest of the simulated API. Limits follow the docs
(doc 92135 / 93338 as copied in S10): `limit` above its maximum falls back to the default
("超过最大值时取默认值") rather than failing; a cursor that is not one we issued is 50100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from . import codes
from .api import ApiRequest, Handler, parse_content
from .codes import ApiError
from .groupsend import PERSONAL, ChatType, GroupSend, GroupSends
from .media import SimMedia
from .state import World

MAX_CHATS = 2000  # chat_id_list
MAX_CUSTOMERS = 10_000  # external_userid
MAX_LIST_SPAN_S = 30 * 86_400  # "起止时间间隔不能超过1个月": the strictest reading, 30 days
_PREFIX = "externalcontact/"
T = TypeVar("T")


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise ApiError(codes.INVALID_PARAM, f"{name} required")
        return default
    if isinstance(value, bool):
        raise ApiError(codes.INVALID_PARAM, f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(codes.INVALID_PARAM, f"{name} must be an integer") from None


def _limit(value: Any, default: int, maximum: int) -> int:
    """Over the maximum (or not positive) means the default, as the docs say."""
    limit = _int(value, "limit", default)
    return limit if 1 <= limit <= maximum else default


def _str_list(value: Any, name: str, maximum: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ApiError(codes.INVALID_PARAM, f"{name} must be a list of strings")
    if len(value) > maximum:
        raise ApiError(codes.INVALID_PARAM, f"{name} holds at most {maximum}")
    return list(value)


def _offset(cursor: Any, size: int) -> int:
    """Our cursors are offsets as strings; anything else is 50100."""
    if cursor is None or cursor == "":
        return 0
    if isinstance(cursor, str) and cursor.isdigit() and int(cursor) <= size:
        return int(cursor)
    raise ApiError(codes.INVALID_CURSOR)


def _page(items: list[T], body: Mapping[str, Any], default: int,
          maximum: int) -> tuple[list[T], str]:
    """One page of `items` for the body's `limit` and `cursor`, and the cursor of the next
    page ("" after the last)."""
    limit = _limit(body.get("limit"), default, maximum)
    start = _offset(body.get("cursor"), len(items))
    more = start + limit < len(items)
    return items[start:start + limit], str(start + limit) if more else ""


def _with_send_time(item: dict[str, Any], send_time: int | None) -> dict[str, Any]:
    """`item`, with its send_time where there is one (WeCom leaves the key out otherwise)."""
    if send_time is not None:
        item["send_time"] = send_time
    return item


def _chat_type(value: Any) -> ChatType:
    if value is None or value == "" or value == "single":
        return "single"
    if value == "group":
        return "group"
    raise ApiError(codes.INVALID_PARAM, "chat_type must be single or group")


def _tag_groups(value: Any) -> list[list[str]]:
    """tag_filter.group_list[].tag_list[]: OR within a group, AND across groups."""
    if value is None:
        return []
    groups = value.get("group_list") if isinstance(value, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ApiError(codes.INVALID_PARAM, "tag_filter.group_list must be a list of objects")
    return [_str_list(g.get("tag_list"), "tag_filter.group_list.tag_list", 100) for g in groups]


class GroupSendApi:
    """Handlers for add_msg_template, get_groupmsg_*, remind_ and cancel_groupmsg_send."""

    def __init__(self, world: World, sends: GroupSends, media: SimMedia | None = None) -> None:
        self.world = world
        self.sends = sends
        self.media = media  # media ids and uploaded pictures the attachments may name

    def routes(self) -> dict[str, tuple[str, Handler]]:
        handlers: Sequence[tuple[str, Handler]] = (
            ("add_msg_template", self.add_msg_template),
            ("get_groupmsg_list_v2", self.get_groupmsg_list_v2),
            ("get_groupmsg_task", self.get_groupmsg_task),
            ("get_groupmsg_send_result", self.get_groupmsg_send_result),
            ("remind_groupmsg_send", self.remind_groupmsg_send),
            ("cancel_groupmsg_send", self.cancel_groupmsg_send),
        )
        return {_PREFIX + name: ("POST", handler) for name, handler in handlers}

    def _sender(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ApiError(codes.INVALID_PARAM, "sender must be a userid")
        if value not in self.world.staff:
            raise ApiError(codes.INVALID_USERID)
        return value

    def add_msg_template(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        chat_type = _chat_type(body.get("chat_type"))
        text, attachments = parse_content(body)
        if self.media is not None:
            self.media.check_attachments(attachments)
        sender = self._sender(body.get("sender"))
        chat_ids: list[str] = []
        exts: list[str] = []
        tag_groups: list[list[str]] = []
        if chat_type == "group":
            if sender is None:
                # The docs only say "必填"; 40058 is the simulator's code for bad parameters.
                raise ApiError(codes.INVALID_PARAM, "sender is required for chat_type group")
            chat_ids = _str_list(body.get("chat_id_list"), "chat_id_list", MAX_CHATS)
        else:
            exts = _str_list(body.get("external_userid"), "external_userid", MAX_CUSTOMERS)
            if not exts and sender is None:
                raise ApiError(codes.INVALID_PARAM, "external_userid and sender both empty")
            tag_groups = _tag_groups(body.get("tag_filter"))
        msg = self.sends.create(chat_type=chat_type, sender=sender, chat_ids=chat_ids,
                                external_userids=exts, tag_groups=tag_groups, text=text,
                                attachments=attachments)
        return {"fail_list": msg.fail_list, "msgid": msg.msgid}

    def get_groupmsg_list_v2(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        chat_type = _chat_type(body.get("chat_type"))
        start = _int(body.get("start_time"), "start_time")
        end = _int(body.get("end_time"), "end_time")
        if end < start or end - start > MAX_LIST_SPAN_S:
            raise ApiError(codes.INVALID_PARAM, "start_time..end_time must span 0..30 days")
        creator = body.get("creator") or None
        if creator is not None and not isinstance(creator, str):
            raise ApiError(codes.INVALID_PARAM, "creator must be a userid")
        filter_type = _int(body.get("filter_type"), "filter_type", 2)
        if filter_type not in (0, 1, 2):
            raise ApiError(codes.INVALID_PARAM, "filter_type must be 0, 1 or 2")
        limit = _limit(body.get("limit"), 50, 100)
        cursor = body.get("cursor")
        position = (None if cursor in (None, "")
                    else _offset(cursor, self.sends.index_size(chat_type)))
        self.sends.advance()
        self.sends.check_range_dispatched(chat_type, start, end)
        page, resume = self.sends.list(chat_type, start, end, creator, filter_type, position,
                                       limit)
        return {"next_cursor": "" if resume is None else str(resume),
                "group_msg_list": [self._msg_json(m) for m in page]}

    @staticmethod
    def _msg_json(msg: GroupSend) -> dict[str, Any]:
        data: dict[str, Any] = {"msgid": msg.msgid}
        if msg.creator is not None:  # "API接口创建的群发消息不返回该字段"
            data["creator"] = msg.creator
        # The doc sample quotes create_time ("create_time":"xxxx"): a string of digits.
        data["create_time"] = str(msg.create_time)
        data["create_type"] = PERSONAL if msg.create_type == PERSONAL else 0
        if msg.text:
            data["text"] = {"content": msg.text}
        if msg.listed:
            data["attachments"] = list(msg.listed)  # pic_url images as media ids
        return data

    def get_groupmsg_task(self, req: ApiRequest) -> dict[str, Any]:
        self.sends.advance()
        msg = self.sends.get(req.body.get("msgid"))
        self.sends.check_dispatched(msg)
        page, next_cursor = _page(list(msg.tasks.values()), req.body, 500, 1000)
        task_list = [  # send_time: "发送时间，未发送时不返回"
            _with_send_time({"userid": task.userid, "status": task.status}, task.send_time)
            for task in page
        ]
        return {"next_cursor": next_cursor, "task_list": task_list}

    def get_groupmsg_send_result(self, req: ApiRequest) -> dict[str, Any]:
        self.sends.advance()
        msg = self.sends.get(req.body.get("msgid"))
        userid = req.body.get("userid")
        if not isinstance(userid, str) or not userid:
            raise ApiError(codes.INVALID_PARAM, "userid required")
        if userid not in self.world.staff:
            raise ApiError(codes.INVALID_USERID)
        self.sends.check_dispatched(msg)
        task = msg.tasks.get(userid)
        results = task.results if task is not None else []
        page, next_cursor = _page(results, req.body, 500, 1000)
        key = "chat_id" if msg.chat_type == "group" else "external_userid"
        send_list = [  # send_time: "发送时间，发送状态为1时返回"
            _with_send_time({key: result.target, "userid": userid, "status": result.status},
                            result.send_time)
            for result in page
        ]
        return {"next_cursor": next_cursor, "send_list": send_list}

    def remind_groupmsg_send(self, req: ApiRequest) -> dict[str, Any]:
        self.sends.remind(req.body.get("msgid"))
        return {}

    def cancel_groupmsg_send(self, req: ApiRequest) -> dict[str, Any]:
        self.sends.cancel(req.body.get("msgid"))
        return {}
