"""The /cgi-bin/ routes: WeCom's server API as far as the bot uses it (reference §4).

Every call goes through one pipeline, in the order a real front end would apply it:
rate limit (45009) -> injected faults (delay, reset, errcode) -> access_token check (not
for gettoken and the robot webhook) -> handler. Faults are decided before the handler
runs, so a failed call never changes state. Answers are always HTTP 200 with
`errcode`/`errmsg`, and every call is logged. Other modules put their routes through the
same pipeline with `add_routes` (groupsend_api.py, robots.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from aiohttp import web

from . import codes
from .auth import TokenStore
from .codes import ApiError
from .faults import FaultInjector, RateLimiter
from .options import SimOptions
from .state import Chat, Contact, Follow, TagGroup, World

if TYPE_CHECKING:
    from .media import SimMedia

_dumps = partial(json.dumps, ensure_ascii=False)

WELCOME_TEXT_MAX_BYTES = 4000
APP_TEXT_MAX_BYTES = 2048
MAX_ATTACHMENTS = 9
MAX_TAG_NAME = 30  # characters, tags and tag groups (add_corp_tag, edit_corp_tag: doc 92117)
FOLLOW_USER_PAGE = 500  # externalcontact/get: follow_user past 500 members is paged


class CallRecord(NamedTuple):
    """One API call: errcode None means the connection was reset (no answer)."""

    path: str
    errcode: int | None
    at: float  # time.time() when the call arrived


@dataclass(frozen=True, slots=True)
class ApiRequest:
    path: str
    query: Mapping[str, str]
    body: dict[str, Any]
    raw: bytes = b""  # the body as sent: an upload's multipart/form-data (media.py)
    content_type: str = ""


Handler = Callable[[ApiRequest], dict[str, Any]]


def _bytes(text: str) -> int:
    return len(text.encode())


def _str_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(codes.INVALID_PARAM, f"{name} must be a list of strings")
    return list(value)


def _int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(codes.INVALID_PARAM, f"{name} must be an integer") from None


def _page(items: Sequence[Any], cursor: Any, limit: int) -> tuple[list[Any], str]:
    """Cursor paging: the cursor is an opaque string (here, the next offset)."""
    start = _int(cursor, "cursor", 0)
    page = list(items[start:start + limit])
    more = start + limit < len(items)
    return page, str(start + limit) if more else ""


class CgiBin:
    """Route table, pipeline and handlers of the simulated API."""

    def __init__(self, world: World, tokens: TokenStore, options: SimOptions,
                 injector: FaultInjector, limiter: RateLimiter) -> None:
        self.world = world
        self.tokens = tokens
        self.options = options
        self.injector = injector
        self.limiter = limiter
        self.calls: list[CallRecord] = []
        contact_posts: dict[str, Handler] = {  # below externalcontact/, all POST
            "batch/get_by_user": self.batch_get_by_user,
            "get_corp_tag_list": self.get_corp_tag_list,
            "add_corp_tag": self.add_corp_tag,
            "edit_corp_tag": self.edit_corp_tag,
            "del_corp_tag": self.del_corp_tag,
            "mark_tag": self.mark_tag,
            "groupchat/list": self.groupchat_list,
            "groupchat/get": self.groupchat_get,
            "send_welcome_msg": self.send_welcome_msg,
        }
        self.routes: dict[str, tuple[str, Handler]] = {
            "gettoken": ("GET", self.gettoken),
            "getcallbackip": ("GET", self.getcallbackip),
            "externalcontact/get": ("GET", self.get_contact),
            **{f"externalcontact/{path}": ("POST", handler)
               for path, handler in contact_posts.items()},
            "message/send": ("POST", self.message_send),
        }
        self.tokenless = {"gettoken"}  # paths served without an access_token
        self.media: SimMedia | None = None  # media ids and pictures sends may name

    def add_routes(self, routes: Mapping[str, tuple[str, Handler]], *,
                   tokenless: bool = False) -> None:
        """More APIs through the same pipeline (group sends, robots); before `register`."""
        self.routes.update(routes)
        if tokenless:
            self.tokenless.update(routes)

    def register(self, app: web.Application) -> None:
        for path, (method, handler) in self.routes.items():
            app.router.add_route(method, f"/cgi-bin/{path}", partial(self._serve, path, handler))

    # -- pipeline ----------------------------------------------------------------------

    async def _serve(self, path: str, handler: Handler, request: web.Request) -> web.Response:
        arrived = time.time()
        token = request.query.get("access_token")
        if not self.limiter.allow(path):
            return self._answer(path, arrived, ApiError(codes.FREQUENCY_LIMITED).body())
        needs_token = path not in self.tokenless
        # The whole request is in before the (possibly delayed) answer: a client that gives
        # up waiting must not stop a slow call from running, as with the real WeCom.
        raw = await request.read() if request.method == "POST" else b""
        decision = self.injector.decide(path, has_token=needs_token)
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if decision.reset or decision.transport == "timeout":
            if decision.transport == "timeout":
                await asyncio.sleep(decision.hang_s)  # the client gives up first
            self.calls.append(CallRecord(path, None, arrived))
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable  # never reaches the client: the socket is gone
        if decision.errcode is not None:
            if decision.errcode in (codes.TOKEN_EXPIRED, codes.INVALID_TOKEN):
                self.tokens.invalidate(token, decision.errcode)
            return self._answer(path, arrived, ApiError(decision.errcode, "injected").body())
        try:
            if needs_token:
                self.tokens.check(token)
            upload = request.content_type == "multipart/form-data"
            body = {} if upload else self._json_body(raw)
            result = handler(ApiRequest(path, request.query, body, raw,
                                        request.headers.get("Content-Type", "")))
            data: dict[str, Any] = {"errcode": 0, "errmsg": "ok", **result}
        except ApiError as exc:
            data = exc.body()
        if decision.transport == "lost_answer":  # it ran; the answer never arrives
            self.calls.append(CallRecord(path, int(data["errcode"]), arrived))
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable
        if decision.transport == "gateway_error":  # it ran; a front end says 502
            self.calls.append(CallRecord(path, int(data["errcode"]), arrived))
            return web.Response(status=502, text="<html>502 Bad Gateway</html>",
                                content_type="text/html")
        return self._answer(path, arrived, data)

    def _answer(self, path: str, arrived: float, data: dict[str, Any]) -> web.Response:
        self.calls.append(CallRecord(path, int(data["errcode"]), arrived))
        return web.json_response(data, dumps=_dumps)

    @staticmethod
    def _json_body(raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise ApiError(codes.BAD_JSON, "body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(codes.BAD_JSON, "body must be a JSON object")
        return data

    # -- token and infrastructure ------------------------------------------------------------

    def gettoken(self, req: ApiRequest) -> dict[str, Any]:
        token, expires_in = self.tokens.issue(req.query.get("corpid"), req.query.get("corpsecret"))
        return {"access_token": token, "expires_in": expires_in}

    def getcallbackip(self, req: ApiRequest) -> dict[str, Any]:
        return {"ip_list": ["127.0.0.1"]}

    # -- customers ---------------------------------------------------------------------------

    def _contact_json(self, contact: Contact) -> dict[str, Any]:
        data: dict[str, Any] = {"external_userid": contact.external_userid,
                                "name": contact.name, "type": contact.type,
                                "avatar": contact.avatar, "gender": contact.gender}
        if contact.unionid:
            data["unionid"] = contact.unionid
        return data

    def _tag_json(self, tag_id: str) -> dict[str, Any]:
        tag = self.world.tags[tag_id]
        group = self.world.tag_groups[tag.group_id]
        return {"group_name": group.group_name, "tag_name": tag.name, "tag_id": tag.id,
                "type": 1}

    def _follow_common(self, follow: Follow) -> dict[str, Any]:
        data: dict[str, Any] = {"remark": follow.remark, "description": follow.description,
                                "createtime": follow.createtime, "remark_mobiles": [],
                                "oper_userid": follow.oper_userid, "add_way": follow.add_way}
        if follow.state:
            data["state"] = follow.state
        return data

    def get_contact(self, req: ApiRequest) -> dict[str, Any]:
        """follow_user in pages of 500 (`cursor` / `next_cursor`); 84061 when no member has
        the customer: deleted by every member, or a 免验证 add not yet accepted. A customer
        who deleted a member is still that member's (one-way): listed as before."""
        ext = req.query.get("external_userid", "")
        contact = self.world.contacts.get(ext)
        if contact is None:
            raise ApiError(codes.INVALID_EXTERNAL_USERID)
        follows = self.world.visible_follows(ext)
        if not follows:
            raise ApiError(codes.NO_RELATION)
        cursor = req.query.get("cursor", "")
        if cursor and not (cursor.isdigit() and int(cursor) < len(follows)):
            raise ApiError(codes.INVALID_CURSOR)
        page, next_cursor = _page(follows, cursor, FOLLOW_USER_PAGE)
        data: dict[str, Any] = {
            "external_contact": self._contact_json(contact),
            "follow_user": [
                {"userid": f.userid, **self._follow_common(f),
                 "tags": [self._tag_json(t) for t in f.tag_ids]}
                for f in page
            ],
        }
        if next_cursor:
            data["next_cursor"] = next_cursor
        return data

    def batch_get_by_user(self, req: ApiRequest) -> dict[str, Any]:
        userids = _str_list(req.body.get("userid_list"), "userid_list")
        if not userids and isinstance(req.body.get("userid"), str):
            userids = [req.body["userid"]]  # the older single-userid form (wechatpy)
        if not userids or len(userids) > 100:
            raise ApiError(codes.INVALID_PARAM, "userid_list must hold 1..100 userids")
        if any(u not in self.world.staff for u in userids):
            raise ApiError(codes.INVALID_USERID_LIST)
        limit = _int(req.body.get("limit"), "limit", 50)
        if not 1 <= limit <= 100:
            raise ApiError(codes.INVALID_PARAM, "limit must be 1..100")
        follows = [f for u in userids for f in self.world.follows.of_staff(u) if not f.half]
        page, next_cursor = _page(follows, req.body.get("cursor"), limit)
        return {
            "external_contact_list": [
                {"external_contact": self._contact_json(self.world.contacts[f.external_userid]),
                 "follow_info": {"userid": f.userid, **self._follow_common(f),
                                 "tag_id": list(f.tag_ids)}}
                for f in page
            ],
            "next_cursor": next_cursor,
        }

    def _require_relation(self, userid: Any, ext: Any) -> Follow:
        if not isinstance(userid, str) or userid not in self.world.staff:
            raise ApiError(codes.INVALID_USERID)
        if not isinstance(ext, str) or ext not in self.world.contacts:
            raise ApiError(codes.INVALID_EXTERNAL_USERID)
        follow = self.world.follows.get((userid, ext))
        if follow is None or follow.half:
            raise ApiError(codes.NO_RELATION)
        return follow

    def mark_tag(self, req: ApiRequest) -> dict[str, Any]:
        follow = self._require_relation(req.body.get("userid"), req.body.get("external_userid"))
        add = _str_list(req.body.get("add_tag"), "add_tag")
        remove = _str_list(req.body.get("remove_tag"), "remove_tag")
        if not add and not remove:
            raise ApiError(codes.INVALID_PARAM, "add_tag and remove_tag are both empty")
        if any(t not in self.world.tags for t in add + remove):
            raise ApiError(codes.INVALID_TAG_ID)
        self.world.apply_tags(follow, add, remove)
        return {}

    # -- corp tags -----------------------------------------------------------------------------

    def _group_json(self, group: TagGroup, tag_ids: Sequence[str] | None = None,
                    *, with_deleted: bool = True) -> dict[str, Any]:
        def tag_json(tag_id: str) -> dict[str, Any]:
            tag = self.world.tags[tag_id]
            data: dict[str, Any] = {"id": tag.id, "name": tag.name,
                                    "create_time": tag.create_time, "order": tag.order}
            if with_deleted:
                data["deleted"] = False
            return data

        data: dict[str, Any] = {"group_id": group.group_id, "group_name": group.group_name,
                                "create_time": group.create_time, "order": group.order}
        if with_deleted:
            data["deleted"] = False
        data["tag"] = [tag_json(t) for t in (group.tag_ids if tag_ids is None else tag_ids)]
        return data

    def get_corp_tag_list(self, req: ApiRequest) -> dict[str, Any]:
        tag_filter = set(_str_list(req.body.get("tag_id"), "tag_id"))
        group_filter = set(_str_list(req.body.get("group_id"), "group_id"))
        groups = []
        for group in self.world.tag_groups.values():
            if group_filter:  # the group filter wins over the tag filter (§4)
                if group.group_id in group_filter:
                    groups.append(self._group_json(group))
            elif tag_filter:
                hits = [t for t in group.tag_ids if t in tag_filter]
                if hits:
                    groups.append(self._group_json(group, hits))
            else:
                groups.append(self._group_json(group))
        return {"tag_group": groups}

    def add_corp_tag(self, req: ApiRequest) -> dict[str, Any]:
        """Names at most 30 characters (40072), duplicates in one request collapsed into
        one tag; a name the group already has: 40071 or the existing tag, per
        `options.tag_name_exists` (the docs do not settle which)."""
        body = req.body
        tags = body.get("tag")
        if not isinstance(tags, list) or not tags or not all(isinstance(t, dict) for t in tags):
            raise ApiError(codes.INVALID_PARAM, "tag must be a non-empty list")  # no empty groups
        names = [t.get("name") for t in tags]
        if any(not isinstance(n, str) or not 1 <= len(n) <= MAX_TAG_NAME for n in names):
            raise ApiError(codes.INVALID_TAG_NAME_LENGTH)
        group = self._tag_group_for(body)
        existing = {self.world.tags[t].name: t for t in group.tag_ids} if group else {}
        wanted: dict[str, dict[str, Any]] = {}
        for tag in tags:
            wanted.setdefault(str(tag["name"]), tag)  # a repeated name: one tag, its first entry
        if set(wanted) & set(existing) and self.options.tag_name_exists == "error":
            raise ApiError(codes.TAG_NAME_EXISTS)
        new = [name for name in wanted if name not in existing]
        if len(self.world.tags) + len(new) > self.options.max_corp_tags:
            raise ApiError(codes.TOO_MANY_CORP_TAGS)
        if group is None:
            group = self.world.new_tag_group(str(body.get("group_name")),
                                             _int(body.get("order"), "order", 0))
        ids = [existing[name] if name in existing else
               self.world.new_tag(group, name, _int(wanted[name].get("order"), "order", 0)).id
               for name in wanted]
        return {"tag_group": self._group_json(group, ids, with_deleted=False)}

    def _tag_group_for(self, body: dict[str, Any]) -> TagGroup | None:
        """The group add_corp_tag adds to: by id, by an existing name, or None (a new one)."""
        group_id, group_name = body.get("group_id"), body.get("group_name")
        if group_id:
            group = self.world.tag_groups.get(str(group_id))
            if group is None:
                raise ApiError(codes.INVALID_TAG_ID, "unknown group_id")
            return group
        if not isinstance(group_name, str) or not group_name:
            raise ApiError(codes.INVALID_PARAM, "group_id or group_name required")
        if len(group_name) > MAX_TAG_NAME:
            raise ApiError(codes.INVALID_TAG_NAME_LENGTH, "group_name over 30 characters")
        return self.world.find_group_by_name(group_name)  # an existing name is reused

    def edit_corp_tag(self, req: ApiRequest) -> dict[str, Any]:
        item_id = req.body.get("id")
        name = req.body.get("name")
        order = req.body.get("order")
        if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= MAX_TAG_NAME):
            raise ApiError(codes.INVALID_TAG_NAME_LENGTH)
        if item_id in self.world.tags:
            tag = self.world.tags[item_id]
            siblings = self.world.tag_groups[tag.group_id].tag_ids
            if name is not None and any(self.world.tags[t].name == name
                                        for t in siblings if t != tag.id):
                raise ApiError(codes.TAG_NAME_EXISTS)
            tag.name = name if name is not None else tag.name
            tag.order = _int(order, "order", tag.order)
        elif item_id in self.world.tag_groups:
            group = self.world.tag_groups[item_id]
            if name is not None and any(g.group_name == name and g is not group
                                        for g in self.world.tag_groups.values()):
                raise ApiError(codes.TAG_NAME_EXISTS)
            group.group_name = name if name is not None else group.group_name
            group.order = _int(order, "order", group.order)
        else:
            raise ApiError(codes.INVALID_TAG_ID)
        return {}

    def del_corp_tag(self, req: ApiRequest) -> dict[str, Any]:
        tag_ids = _str_list(req.body.get("tag_id"), "tag_id")
        group_ids = _str_list(req.body.get("group_id"), "group_id")
        if not tag_ids and not group_ids:
            raise ApiError(codes.INVALID_PARAM, "tag_id and group_id are both empty")
        if any(t not in self.world.tags for t in tag_ids) or any(
                g not in self.world.tag_groups for g in group_ids):
            raise ApiError(codes.INVALID_TAG_ID)
        doomed = set(tag_ids)
        for group_id in group_ids:
            doomed.update(self.world.tag_groups[group_id].tag_ids)
        self.world.delete_tags(doomed)
        return {}

    # -- customer groups ------------------------------------------------------------------------

    def groupchat_list(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        limit = _int(body.get("limit"), "limit", 0)
        if not 1 <= limit <= 1000:
            raise ApiError(codes.INVALID_PARAM, "limit must be 1..1000")
        status = _int(body.get("status_filter"), "status_filter", 0)
        owner_filter = body.get("owner_filter") or {}
        owners = _str_list(owner_filter.get("userid_list") if isinstance(owner_filter, dict)
                           else None, "owner_filter.userid_list")
        if len(owners) > 100:
            raise ApiError(codes.INVALID_PARAM, "owner_filter.userid_list holds at most 100")
        if not owners and len(self.world.staff) > 1000:
            raise ApiError(codes.TOO_MANY_USERS_WITHOUT_FILTER)
        chats = [c for c in self.world.chats.values()
                 if (not owners or c.owner in owners) and (status == 0 or c.status == status)]
        page, next_cursor = _page(chats, body.get("cursor"), limit)
        data: dict[str, Any] = {
            "group_chat_list": [{"chat_id": c.chat_id, "status": c.status} for c in page]}
        if next_cursor:
            data["next_cursor"] = next_cursor
        return data

    def _chat_json(self, chat: Chat, need_name: bool) -> dict[str, Any]:
        members = []
        for m in chat.members.values():
            item: dict[str, Any] = {"userid": m.userid, "type": m.type,
                                    "join_time": m.join_time, "join_scene": m.join_scene}
            if m.invitor:
                item["invitor"] = {"userid": m.invitor}
            contact = self.world.contacts.get(m.userid) if m.type == 2 else None
            if contact is not None and contact.unionid:
                item["unionid"] = contact.unionid
            if need_name:
                item["name"] = m.name
            if m.state:  # only joins through a join way with a state (wecom-more.md §1c)
                item["state"] = m.state
            members.append(item)
        return {"chat_id": chat.chat_id, "name": chat.name, "owner": chat.owner,
                "create_time": chat.create_time, "notice": chat.notice,
                "member_list": members,
                "admin_list": [{"userid": a} for a in chat.admins],
                "member_version": chat.member_version}

    def groupchat_get(self, req: ApiRequest) -> dict[str, Any]:
        chat = self.world.chats.get(str(req.body.get("chat_id") or ""))
        if chat is None:
            raise ApiError(codes.CHAT_NOT_FOUND)
        need_name = _int(req.body.get("need_name"), "need_name", 0) == 1
        return {"group_chat": self._chat_json(chat, need_name)}

    # -- welcome messages ----------------------------------------------------------------------

    def send_welcome_msg(self, req: ApiRequest) -> dict[str, Any]:
        code = req.body.get("welcome_code")
        if not isinstance(code, str) or not code:
            raise ApiError(codes.WELCOME_CODE_MISSING)
        content, attachments = parse_content(req.body)
        if self.media is not None:
            self.media.check_attachments(attachments)
        welcome = self.world.use_welcome_code(code)  # the last check: spends the code
        self.world.record_welcome(welcome, content, attachments)
        return {}

    # -- app messages ----------------------------------------------------------------------------

    def message_send(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        if str(body.get("agentid", "")) != str(self.world.agent_id):
            raise ApiError(codes.INVALID_AGENT_ID)
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown", "image"):
            raise ApiError(codes.INVALID_MSGTYPE, "the simulator sends text, markdown, image")
        payload = body.get(msgtype)
        field = "media_id" if msgtype == "image" else "content"
        content = payload.get(field) if isinstance(payload, dict) else None
        if msgtype == "image" and self.media is not None:
            self.media.live_media(content)
        if not isinstance(content, str) or not content:
            raise ApiError(codes.INVALID_PARAM, f"{msgtype}.{field} required")
        if _bytes(content) > APP_TEXT_MAX_BYTES:
            raise ApiError(codes.CONTENT_TOO_LONG, f"content over {APP_TEXT_MAX_BYTES} B")
        touser = [u for u in str(body.get("touser") or "").split("|") if u]
        if "@all" in touser:
            touser = list(self.world.staff)
        valid = [u for u in dict.fromkeys(touser) if u in self.world.staff]
        extra: dict[str, Any] = {}
        invalid = [u for u in touser if u not in self.world.staff]
        if invalid:
            extra["invaliduser"] = "|".join(invalid)
        for key, name in (("toparty", "invalidparty"), ("totag", "invalidtag")):
            if body.get(key):  # the simulated corp has no departments or member tags
                extra[name] = str(body[key])
        if not valid:
            raise ApiError(codes.ALL_RECIPIENTS_INVALID, **extra)
        interval = _duplicate_interval(body)
        msgid = self.world.new_id("", 40)
        earlier: list[str] = []
        for userid in valid:
            if interval is not None:
                repeat = self.world.app_duplicate_of(userid, msgtype, content, interval)
                if repeat is not None:  # the same content inside the interval: not again
                    self.world.app_duplicates += 1
                    earlier.append(repeat)
                    continue
            self.world.deliver_app_message(userid, msgtype, content, msgid)
        if earlier and len(earlier) == len(valid):
            msgid = earlier[0]  # ASSUMED: the answer names the message already delivered
        return {**extra, "msgid": msgid}


def _duplicate_interval(body: dict[str, Any]) -> float | None:
    """``enable_duplicate_check: 1`` -> the interval in seconds (default 1800, doc 90236).

    The reference says no more; ASSUMED (docs/simulator.md): a repeat is any earlier
    delivery of the same msgtype and content to the same member by this app within the
    interval, the call still answers errcode 0, and nothing is delivered again.
    """
    if str(body.get("enable_duplicate_check", 0)) != "1":
        return None
    try:
        return float(body.get("duplicate_check_interval", 1800))
    except (TypeError, ValueError):
        raise ApiError(codes.INVALID_PARAM, "duplicate_check_interval must be a number"
                       ) from None


_ATTACHMENT_FIELDS: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    # msgtype: (required fields (any one of a "a|b" group), byte limits)
    "image": (("media_id|pic_url",), {}),
    "link": (("title", "url"), {"title": 128, "desc": 512}),
    "miniprogram": (("title", "pic_media_id", "appid", "page"), {"title": 64}),
    "video": (("media_id",), {}),
    "file": (("media_id",), {}),
}


def parse_content(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """text.content and attachments, checked as for send_welcome_msg (same shapes, limits)."""
    text_obj = body.get("text") or {}
    content = text_obj.get("content", "") if isinstance(text_obj, dict) else None
    if not isinstance(content, str):
        raise ApiError(codes.INVALID_PARAM, "text.content must be a string")
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list):
        raise ApiError(codes.INVALID_ATTACHMENT, "attachments must be a list")
    if len(attachments) > MAX_ATTACHMENTS:
        raise ApiError(codes.TOO_MANY_ATTACHMENTS)
    for attachment in attachments:
        check_attachment(attachment)
    if not content and not attachments:
        raise ApiError(codes.INVALID_ATTACHMENT, "text and attachments are both empty")
    if _bytes(content) > WELCOME_TEXT_MAX_BYTES:
        raise ApiError(codes.CONTENT_TOO_LONG, f"text.content over {WELCOME_TEXT_MAX_BYTES} B")
    return content, attachments


def check_attachment(attachment: Any) -> None:
    """41065 unless the attachment has the fields the reference lists for its msgtype."""
    if not isinstance(attachment, dict):
        raise ApiError(codes.INVALID_ATTACHMENT, "attachment must be an object")
    msgtype = attachment.get("msgtype")
    if msgtype not in _ATTACHMENT_FIELDS:
        raise ApiError(codes.INVALID_ATTACHMENT, f"unsupported msgtype {msgtype!r}")
    inner = attachment.get(msgtype)
    if not isinstance(inner, dict):
        raise ApiError(codes.INVALID_ATTACHMENT, f"{msgtype} object missing")
    required, limits = _ATTACHMENT_FIELDS[msgtype]
    for group in required:
        if not any(isinstance(inner.get(f), str) and inner.get(f) for f in group.split("|")):
            raise ApiError(codes.INVALID_ATTACHMENT, f"{msgtype}.{group} required")
    for name, limit in limits.items():
        value = inner.get(name)
        if isinstance(value, str) and _bytes(value) > limit:
            raise ApiError(codes.INVALID_ATTACHMENT, f"{msgtype}.{name} over {limit} B")
