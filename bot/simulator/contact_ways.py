"""「联系我」 contact ways, 「加入群聊」 join ways and group welcome templates, as WeCom keeps
them (wecom-more.md §1-2), with each code's QR as a real PNG and the customer's scan.

API (POST, below ``externalcontact/``): ``add_contact_way``, ``get_contact_way``,
``update_contact_way``, ``del_contact_way``, ``list_contact_way``;
``groupchat/{add,get,update,del}_join_way``; ``group_welcome_template/{add,edit,get,del}``.
Limits: state and remark ≤ 30 characters, ≤ 100 staff per contact way (41041), ≤ 5 groups
per join way, room_base_name ≤ 40, contact and join ways share `max_ways` (41045), 100
templates (41055), template text ≤ 3000 bytes. An app only sees what it created: a way made
by someone else (`foreign`, see `Codes.add_foreign_*`) answers 41044, a template 41058.
Updates overwrite, as WeCom's do.

ASSUMED where the sources are silent (docs/simulator.md lists them): a wrong state length
or chat list answers 40058; an unknown template id answers 41058; a join way's auto-created
group is appended to its chat list (replacing the first full group when 5 are listed);
the new group's owner is the owner of the first listed group; list_contact_way lists only
the app's own ways.

Each code has a QR whose content names it (``https://work.weixin.qq.com/ca/<config_id>``
for contact ways, ``.../gm/<config_id>`` for join ways) and an image URL under
`qr_image_base`, served by the simulator at the same path (``/wwpic/sim/<config_id>.png``).
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import segno
from aiohttp import web

from . import codes
from .api import ApiRequest, Handler, _int, _page, _str_list, check_attachment
from .codes import ApiError
from .options import SimOptions
from .state import Contact, World

MAX_STATE = 30
MAX_REMARK = 30
MAX_USERS = 100
MAX_CHATS = 5
MAX_ROOM_BASE_NAME = 40
TEMPLATE_TEXT_MAX_BYTES = 3000
QR_CONTENT = {"contact": "https://work.weixin.qq.com/ca/{}", "join": "https://work.weixin.qq.com/gm/{}"}
_TEMPLATE_KINDS = ("image", "link", "miniprogram", "file", "video")


@dataclass
class ContactWay:
    config_id: str
    type: int
    scene: int
    user: list[str]
    state: str = ""
    remark: str = ""
    style: int = 1
    skip_verify: bool = True
    party: list[int] = field(default_factory=list)
    created_at: int = 0
    foreign: bool = False  # made by another app (or the admin console): not ours to see
    scans: int = 0


@dataclass
class JoinWay:
    config_id: str
    scene: int
    chat_id_list: list[str]
    state: str = ""
    remark: str = ""
    auto_create_room: int = 1
    room_base_name: str = ""
    room_base_id: int = 1
    created_at: int = 0
    foreign: bool = False
    rooms_created: int = 0  # groups this way made when the listed ones were full


@dataclass
class GroupWelcomeTemplate:
    template_id: str
    text: str
    attachment: dict[str, Any]  # {kind: {...}} as given, at most one kind honoured
    notify: int = 1
    foreign: bool = False
    edits: int = 0


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(codes.INVALID_PARAM, f"{name} must be a string of at most {limit} "
                                            "characters")
    return value


def qr_png(content: str, scale: int = 8) -> bytes:
    """A PNG of a QR code holding `content` (a scanner reads it back)."""
    out = io.BytesIO()
    segno.make_qr(content, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


class Codes:
    """Contact ways, join ways and group welcome templates; the routes and the scans."""

    def __init__(self, world: World, options: SimOptions,
                 later: Callable[[float, Callable[[], None]], None] | None = None) -> None:
        self.world = world
        self.options = options
        self._later = later or _call_later
        self.contact_ways: dict[str, ContactWay] = {}
        self.join_ways: dict[str, JoinWay] = {}
        self.templates: dict[str, GroupWelcomeTemplate] = {}
        self._seq = itertools.count(1)

    def routes(self) -> dict[str, tuple[str, Handler]]:
        posts: dict[str, Handler] = {
            "add_contact_way": self.add_contact_way,
            "get_contact_way": self.get_contact_way,
            "update_contact_way": self.update_contact_way,
            "del_contact_way": self.del_contact_way,
            "list_contact_way": self.list_contact_way,
            "groupchat/add_join_way": self.add_join_way,
            "groupchat/get_join_way": self.get_join_way,
            "groupchat/update_join_way": self.update_join_way,
            "groupchat/del_join_way": self.del_join_way,
            "group_welcome_template/add": self.add_template,
            "group_welcome_template/edit": self.edit_template,
            "group_welcome_template/get": self.get_template,
            "group_welcome_template/del": self.del_template,
        }
        return {f"externalcontact/{p}": ("POST", h) for p, h in posts.items()}

    # -- ids, QR images --------------------------------------------------------------

    def _new_config_id(self) -> str:
        if len(self.contact_ways) + len(self.join_ways) >= self.options.max_ways:
            raise ApiError(codes.WAY_QUOTA_REACHED)
        return self.world.new_id("", 32, "0123456789abcdef")

    def qr_url(self, config_id: str) -> str:
        return f"{self.options.qr_image_base}{config_id}.png"

    def qr_content(self, config_id: str) -> str:
        """What the code's QR image says when scanned."""
        kind = "contact" if config_id in self.contact_ways else "join"
        if config_id not in self.contact_ways and config_id not in self.join_ways:
            raise ValueError(f"no contact or join way {config_id!r}")
        return QR_CONTENT[kind].format(config_id)

    def png(self, config_id: str) -> bytes:
        return qr_png(self.qr_content(config_id))

    # -- 「联系我」 ---------------------------------------------------------------------

    def _contact_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        """The checked fields of an add/update body (update overwrites them all)."""
        if body.get("type") is None:
            raise ApiError(codes.MISSING_WAY_TYPE)
        if body.get("scene") is None:
            raise ApiError(codes.MISSING_WAY_SCENE)
        kind, scene = _int(body.get("type"), "type", 0), _int(body.get("scene"), "scene", 0)
        if kind not in (1, 2):
            raise ApiError(codes.INVALID_WAY_TYPE)
        if scene not in (1, 2):
            raise ApiError(codes.INVALID_WAY_SCENE)
        style = _int(body.get("style"), "style", 1)
        if style not in ((1, 2, 3) if kind == 1 else (1, 2)):
            raise ApiError(codes.INVALID_WAY_STYLE)
        users = _str_list(body.get("user"), "user")
        party = body.get("party") or []
        if kind == 1 and (len(users) != 1 or party):
            raise ApiError(codes.INVALID_PARAM, "type 1 takes exactly one user and no party")
        if not users and not party:
            raise ApiError(codes.INVALID_PARAM, "user or party required")
        if len(set(users)) > MAX_USERS:
            raise ApiError(codes.TOO_MANY_WAY_USERS)
        if any(u not in self.world.staff for u in users):
            raise ApiError(codes.INVALID_USERID)
        return {"type": kind, "scene": scene, "style": style, "user": list(dict.fromkeys(users)),
                "party": list(party), "skip_verify": bool(body.get("skip_verify", True)),
                "state": _text(body.get("state"), "state", MAX_STATE),
                "remark": _text(body.get("remark"), "remark", MAX_REMARK)}

    def _own_contact(self, body: dict[str, Any]) -> ContactWay:
        config_id = body.get("config_id")
        if not config_id:
            raise ApiError(codes.MISSING_CONFIG_ID)
        way = self.contact_ways.get(str(config_id))
        if way is None or way.foreign:
            raise ApiError(codes.INVALID_CONFIG_ID)
        return way

    def add_contact_way(self, req: ApiRequest) -> dict[str, Any]:
        fields = self._contact_fields(req.body)
        way = ContactWay(self._new_config_id(), created_at=self.world.now(), **fields)
        self.contact_ways[way.config_id] = way
        answer = {"config_id": way.config_id}
        if way.scene == 2:
            answer["qr_code"] = self.qr_url(way.config_id)
        return answer

    def get_contact_way(self, req: ApiRequest) -> dict[str, Any]:
        way = self._own_contact(req.body)
        data: dict[str, Any] = {
            "config_id": way.config_id, "type": way.type, "scene": way.scene,
            "style": way.style, "remark": way.remark, "skip_verify": way.skip_verify,
            "state": way.state, "user": list(way.user), "party": list(way.party),
            "is_temp": False}
        if way.scene == 2:
            data["qr_code"] = self.qr_url(way.config_id)
        return {"contact_way": data}

    def update_contact_way(self, req: ApiRequest) -> dict[str, Any]:
        way = self._own_contact(req.body)
        merged = {"type": way.type, "scene": way.scene, **req.body}  # type/scene are fixed
        for name, value in self._contact_fields(merged).items():
            setattr(way, name, value)
        return {}

    def del_contact_way(self, req: ApiRequest) -> dict[str, Any]:
        del self.contact_ways[self._own_contact(req.body).config_id]
        return {}

    def list_contact_way(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        now = self.world.now()
        end = _int(body.get("end_time"), "end_time", now)
        start = _int(body.get("start_time"), "start_time", end - 90 * 86_400)
        if end - start > 90 * 86_400 or start > end:
            raise ApiError(codes.INVALID_PARAM, "the window is at most 90 days")
        limit = _int(body.get("limit"), "limit", 100)
        if not 1 <= limit <= 1000:
            raise ApiError(codes.INVALID_PARAM, "limit must be 1..1000")
        ways = [w for w in self.contact_ways.values()
                if not w.foreign and start <= w.created_at <= end]
        page, cursor = _page(ways, body.get("cursor"), limit)
        return {"contact_way": [{"config_id": w.config_id} for w in page],
                "next_cursor": cursor}

    # -- 「加入群聊」 -------------------------------------------------------------------

    def _join_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        scene = _int(body.get("scene"), "scene", 0)
        if body.get("scene") is None:
            raise ApiError(codes.MISSING_WAY_SCENE)
        if scene not in (1, 2):
            raise ApiError(codes.INVALID_WAY_SCENE)
        chats = _str_list(body.get("chat_id_list"), "chat_id_list")
        if not chats or len(chats) > MAX_CHATS:
            raise ApiError(codes.INVALID_PARAM, f"chat_id_list must hold 1..{MAX_CHATS} groups")
        if any(c not in self.world.chats for c in chats):
            raise ApiError(codes.CHAT_NOT_FOUND)
        return {"scene": scene, "chat_id_list": list(dict.fromkeys(chats)),
                "state": _text(body.get("state"), "state", MAX_STATE),
                "remark": _text(body.get("remark"), "remark", MAX_REMARK)[:MAX_REMARK],
                "auto_create_room": _int(body.get("auto_create_room"), "auto_create_room", 1),
                "room_base_name": _text(body.get("room_base_name"), "room_base_name",
                                        MAX_ROOM_BASE_NAME),
                "room_base_id": _int(body.get("room_base_id"), "room_base_id", 1)}

    def _own_join(self, body: dict[str, Any]) -> JoinWay:
        config_id = body.get("config_id")
        if not config_id:
            raise ApiError(codes.MISSING_CONFIG_ID)
        way = self.join_ways.get(str(config_id))
        if way is None or way.foreign:
            raise ApiError(codes.INVALID_CONFIG_ID)
        return way

    def add_join_way(self, req: ApiRequest) -> dict[str, Any]:
        fields = self._join_fields(req.body)
        way = JoinWay(self._new_config_id(), created_at=self.world.now(), **fields)
        self.join_ways[way.config_id] = way
        return {"config_id": way.config_id}

    def get_join_way(self, req: ApiRequest) -> dict[str, Any]:
        way = self._own_join(req.body)
        data: dict[str, Any] = {
            "config_id": way.config_id, "scene": way.scene, "remark": way.remark,
            "auto_create_room": way.auto_create_room, "room_base_name": way.room_base_name,
            "room_base_id": way.room_base_id, "chat_id_list": list(way.chat_id_list),
            "state": way.state}
        if way.scene == 2:
            data["qr_code"] = self.qr_url(way.config_id)
        return {"join_way": data}

    def update_join_way(self, req: ApiRequest) -> dict[str, Any]:
        way = self._own_join(req.body)
        for name, value in self._join_fields(req.body).items():
            setattr(way, name, value)
        return {}

    def del_join_way(self, req: ApiRequest) -> dict[str, Any]:
        del self.join_ways[self._own_join(req.body).config_id]
        return {}

    # -- 入群欢迎语素材 ------------------------------------------------------------------

    def _template_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        text_obj = body.get("text") or {}
        text = text_obj.get("content", "") if isinstance(text_obj, dict) else None
        if not isinstance(text, str):
            raise ApiError(codes.INVALID_PARAM, "text.content must be a string")
        if len(text.encode()) > TEMPLATE_TEXT_MAX_BYTES:
            raise ApiError(codes.CONTENT_TOO_LONG,
                           f"text.content over {TEMPLATE_TEXT_MAX_BYTES} B")
        attachment: dict[str, Any] = {}
        for kind in _TEMPLATE_KINDS:  # the priority order; only one kind is honoured
            if isinstance(body.get(kind), dict):
                check_attachment({"msgtype": kind, kind: body[kind]})
                attachment = {kind: dict(body[kind])}
                break
        if not text and not attachment:
            raise ApiError(codes.INVALID_PARAM, "text and attachments are both empty")
        return {"text": text, "attachment": attachment,
                "notify": _int(body.get("notify"), "notify", 1)}

    def _own_template(self, body: dict[str, Any]) -> GroupWelcomeTemplate:
        template = self.templates.get(str(body.get("template_id") or ""))
        if template is None or template.foreign:
            raise ApiError(codes.GROUP_WELCOME_NO_PERMISSION)
        return template

    def add_template(self, req: ApiRequest) -> dict[str, Any]:
        fields = self._template_fields(req.body)
        if len(self.templates) >= self.options.max_group_welcome_templates:
            raise ApiError(codes.GROUP_WELCOME_LIMIT)
        template = GroupWelcomeTemplate(self.world.new_id("msg", 24), **fields)
        self.templates[template.template_id] = template
        return {"template_id": template.template_id}

    def edit_template(self, req: ApiRequest) -> dict[str, Any]:
        template = self._own_template(req.body)
        for name, value in self._template_fields(req.body).items():
            setattr(template, name, value)
        template.edits += 1
        return {}

    def get_template(self, req: ApiRequest) -> dict[str, Any]:
        template = self._own_template(req.body)
        return {"text": {"content": template.text}, **template.attachment}

    def del_template(self, req: ApiRequest) -> dict[str, Any]:
        del self.templates[self._own_template(req.body).template_id]
        return {}

    # -- what other apps and the admin console make ------------------------------------

    def add_foreign_contact_way(self, userid: str, state: str = "") -> str:
        """A 「联系我」 made by another app: this app's calls on it answer 41044."""
        way = ContactWay(self._new_config_id(), 1, 2, [userid], state=state,
                         created_at=self.world.now(), foreign=True)
        self.contact_ways[way.config_id] = way
        return way.config_id

    def add_foreign_template(self, text: str) -> str:
        template = GroupWelcomeTemplate(self.world.new_id("msg", 24), text, {}, foreign=True)
        self.templates[template.template_id] = template
        return template.template_id

    # -- a customer scans ----------------------------------------------------------------

    def find(self, scanned: str) -> ContactWay | JoinWay:
        """The way a scanned QR content (or a bare config_id) names."""
        config_id = scanned.rstrip("/").rsplit("/", 1)[-1].removesuffix(".png")
        way = self.contact_ways.get(config_id) or self.join_ways.get(config_id)
        if way is None:
            raise ValueError(f"this QR code is no longer valid: {scanned!r}")
        return way

    def scan(self, scanned: str, name: str, external_userid: str | None = None
             ) -> dict[str, Any]:
        """A WeChat user scans a code: adds the staff member (contact way) or joins a group
        (join way), with the callbacks WeCom sends."""
        way = self.find(scanned)
        if isinstance(way, ContactWay):
            userid = way.user[way.scans % len(way.user)]  # multi-user ways take turns
            way.scans += 1
            ext, code = self.world.scan_contact_qr(userid, way.state, name, external_userid)
            return {"kind": "contact", "userid": userid, "external_userid": ext,
                    "welcome_code": code, "state": way.state}
        return self._join(way, name, external_userid)

    def _join(self, way: JoinWay, name: str, external_userid: str | None) -> dict[str, Any]:
        ext = external_userid or self.world.new_external_userid()
        if ext not in self.world.contacts:
            self.world.contacts[ext] = Contact(ext, name, avatar=f"https://wework.qpic.cn/sim/{ext}/0")
        chat_id = self._room_for(way)
        version = self.world.join_group_many(chat_id, [ext], "qr", None, [name])
        if way.state:  # WeCom fills member_list[].state asynchronously (§1c)
            self._later(self.options.join_state_delay_s,
                        lambda: self._set_state(chat_id, ext, way.state))
        return {"kind": "join", "chat_id": chat_id, "external_userid": ext,
                "member_version": version, "state": way.state}

    def _set_state(self, chat_id: str, member_id: str, state: str) -> None:
        chat = self.world.chats.get(chat_id)
        member = chat.members.get(member_id) if chat is not None else None
        if member is not None:
            member.state = state

    def _room_for(self, way: JoinWay) -> str:
        """The first listed group with room; else a new one when the way may create it."""
        limit = self.options.chat_member_limit
        live = [c for c in way.chat_id_list if c in self.world.chats]
        for chat_id in live:
            if len(self.world.chats[chat_id].members) < limit:
                return chat_id
        if not way.auto_create_room or not live:
            raise ValueError("every group of this join way is full or dismissed")
        owner = self.world.chats[live[0]].owner
        name = f"{way.room_base_name}{way.room_base_id + way.rooms_created}"
        way.rooms_created += 1
        chat_id = self.world.create_group(owner, name)
        if len(way.chat_id_list) >= MAX_CHATS:
            way.chat_id_list.remove(live[0])
        way.chat_id_list.append(chat_id)
        return chat_id


def _call_later(delay: float, action: Callable[[], None]) -> None:
    try:
        asyncio.get_running_loop().call_later(delay, action)
    except RuntimeError:  # no loop (a synchronous test): WeCom's delay collapses to none
        action()


def register_code_routes(app: web.Application, ways: Codes) -> None:
    """``GET /wwpic/sim/<config_id>.png`` (the qr_code image, as WeCom's image host serves
    it) and ``POST /sim/codes/scan {code, name, external_userid?}`` (a customer scans)."""
    prefix = urlsplit(ways.options.qr_image_base).path

    async def image(request: web.Request) -> web.Response:
        try:
            return web.Response(body=ways.png(ways.find(request.match_info["name"]).config_id),
                                content_type="image/png")
        except ValueError:
            raise web.HTTPNotFound from None

    async def scan(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            answer = ways.scan(str(body["code"]), str(body["name"]), body.get("external_userid"))
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(answer)

    app.router.add_get(prefix + "{name}", image)
    app.router.add_post("/sim/codes/scan", scan)
