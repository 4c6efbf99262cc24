"""/sim/ control routes: the facade over HTTP, for processes that cannot import it.

The benchmark and a separately started demo drive the simulator with these. Bodies and
answers are JSON; a bad request (unknown staff, missing field) is HTTP 400 {"error": ...}.
These routes are the simulator's own, not WeCom's: they are neither logged nor limited.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .facade import Simulator

_dumps = partial(json.dumps, ensure_ascii=False)
Route = Callable[["Simulator", dict[str, Any], web.Request], Awaitable[Any]]


def _reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _wrap(sim: Simulator, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        body: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return _reply({"error": "body is not JSON"}, 400)
            if not isinstance(body, dict):
                return _reply({"error": "body must be a JSON object"}, 400)
        try:
            return _reply(await route(sim, body, request))
        except KeyError as exc:
            return _reply({"error": f"missing field {exc}"}, 400)
        except (ValueError, TypeError) as exc:
            return _reply({"error": str(exc)}, 400)

    return handler


async def _staff(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    sim.add_staff(b["userid"], b.get("name", b["userid"]))
    return {"userid": b["userid"]}


async def _scan(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    ext, code = sim.scan_contact_qr(b["userid"], b.get("state", ""), b["name"],
                                    b.get("external_userid"), bool(b.get("half", False)),
                                    bool(b.get("with_welcome_code", True)))
    return {"external_userid": ext, "welcome_code": code}


async def _groups(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    return {"chat_id": sim.create_group(b["owner"], b["name"], b.get("chat_id"))}


async def _join(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    ids = b.get("member_ids") or [b["member_id"]]
    return {"member_version": sim.join_group_many(b["chat_id"], ids, b["scene"],
                                                  b.get("invitor"))}


async def _leave(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    version = sim.leave_group(b["chat_id"], b["member_id"], bool(b.get("removed", False)))
    return {"member_version": version}


async def _tag_add(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    return {"tag_id": sim.admin_add_tag(b["group_name"], b["tag_name"])}


async def _tags_edit(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    sim.edit_contact_tags(b["userid"], b["external_userid"], b.get("add_tag_ids", ()),
                          b.get("remove_tag_ids", ()))
    return {"ok": True}


async def _tags_shuffle(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    """{"group_id": ...} reorders that group's tags; no group_id reorders the groups."""
    sim.admin_shuffle_tags(str(b.get("group_id", "")))
    return {"ok": True}


async def _archiving_consent(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    code = sim.customer_agrees_to_archiving(b["userid"], b["external_userid"],
                                            bool(b.get("with_welcome_code", True)))
    return {"welcome_code": code}


async def _app_text(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    return {"msg_id": sim.staff_sends_app_text(b["userid"], b["content"])}


async def _faults(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    """Set FaultPlan fields; {"clear": true} first resets every rate and one-shot."""
    if b.pop("clear", False):
        sim.clear_faults()
    for shot in b.pop("fail_next", []):
        sim.fail_next(shot["path"], int(shot["errcode"]), int(shot.get("times", 1)))
    for shot in b.pop("transport_next", []):
        sim.transport_next(shot["path"], str(shot["kind"]), int(shot.get("times", 1)))
    sim.faults.update(b)
    return sim.faults.to_json()


async def _options(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    """Set SimOptions fields (not `faults`: see /sim/faults); answers all of them."""
    names = {f.name for f in dataclasses.fields(sim.options)} - {"faults"}
    unknown = set(b) - names
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}")
    if b.get("groupsend_quota", "month") not in ("month", "week7", "day1"):
        raise ValueError("groupsend_quota must be month, week7 or day1")
    if b.get("tag_name_exists", "error") not in ("error", "existing"):
        raise ValueError("tag_name_exists must be error or existing")
    for name, value in b.items():
        current = getattr(sim.options, name)
        setattr(sim.options, name, type(current)(value))
    return {name: getattr(sim.options, name) for name in sorted(names)}


async def _prepare(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    return sim.prepare_contacts(b["userid"], int(b["count"]), b.get("state", ""),
                                [float(t) for t in b.get("scan_in_s", ())])


async def _welcomes(sim: Simulator, _: dict[str, Any], request: web.Request) -> Any:
    """Every welcome received, or one customer's (`external_userid`), or those after the
    first `since` (a benchmark polling while thousands arrive reads only the new ones)."""
    ext = request.query.get("external_userid")
    records = sim.welcomes_for(ext) if ext else sim.welcomes
    return [dataclasses.asdict(r) for r in records[int(request.query.get("since", 0)):]]


async def _groups_bulk(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    rows = [(str(r[0]), str(r[1]), str(r[2])) for r in b["rows"]]
    return {"created": sim.bulk_create_groups(rows)}


async def _robot_add(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    key = sim.add_robot(b["chat_id"], b.get("key"), b.get("name", ""))
    return {"key": key, "webhook_url": sim.robot_webhook_url(key)}


async def _robot_remove(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    sim.remove_robot(b["key"])
    return {"ok": True}


async def _gs_confirm(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    return {"reached": sim.confirm_groupsend(b["msgid"], b["userid"])}


async def _gs_refuse(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    sim.refuse_groupsend(b["msgid"], b["userid"])
    return {"ok": True}


async def _gs_confirm_pending(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    return {"sent": sim.confirm_pending_groupsends(bool(b.get("everyone", False)))}


async def _gs_personal(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    msgid = sim.staff_sends_personal_groupsend(
        b["userid"], b.get("text", ""), b.get("chat_ids", ()), b.get("external_userids", ()),
        b.get("attachments", ()))
    return {"msgid": msgid}


async def _gs_tasks(sim: Simulator, _: dict[str, Any], request: web.Request) -> Any:
    msgid = request.query.get("msgid")
    sends = [sim.groupsend(msgid)] if msgid else sim.groupsend_tasks()
    return [s.to_json() for s in sends]


async def _gs_counts(sim: Simulator, _: dict[str, Any], __: web.Request) -> Any:
    return {"counts": sim.groupsend_counts(), "doubles": sim.groupsend_doubles()}


async def _group_messages(sim: Simulator, _: dict[str, Any], request: web.Request) -> Any:
    chat_id = request.query.get("chat_id")
    if chat_id:
        records = sim.group_messages(chat_id)
    else:
        records = sim.customer_messages(request.query["external_userid"])
    return [dataclasses.asdict(r) for r in records]


async def _stats(sim: Simulator, _: dict[str, Any], __: web.Request) -> Any:
    return sim.stats()


async def _callback_url(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    sim.callback_url = b.get("url") or None
    return {"callback_url": sim.callback_url}


async def _wait_delivered(sim: Simulator, b: dict[str, Any], _: web.Request) -> Any:
    try:
        await sim.wait_callbacks_delivered(float(b.get("timeout", 30.0)))
    except TimeoutError:
        return {"delivered": False, "pending": sim.pending_callbacks}
    return {"delivered": True, "pending": 0}


_ROUTES: tuple[tuple[str, str, Route], ...] = (
    ("POST", "/sim/staff", _staff),
    ("POST", "/sim/scan", _scan),
    ("POST", "/sim/groups", _groups),
    ("POST", "/sim/join", _join),
    ("POST", "/sim/leave", _leave),
    ("POST", "/sim/tags", _tag_add),
    ("POST", "/sim/tags/edit", _tags_edit),
    ("POST", "/sim/tags/shuffle", _tags_shuffle),
    ("POST", "/sim/archiving_consent", _archiving_consent),
    ("POST", "/sim/app_text", _app_text),
    ("POST", "/sim/faults", _faults),
    ("POST", "/sim/options", _options),
    ("POST", "/sim/prepare_contacts", _prepare),
    ("GET", "/sim/welcomes", _welcomes),
    ("GET", "/sim/stats", _stats),
    ("POST", "/sim/groups/bulk", _groups_bulk),
    ("POST", "/sim/robots", _robot_add),
    ("POST", "/sim/robots/remove", _robot_remove),
    ("POST", "/sim/groupsend/confirm", _gs_confirm),
    ("POST", "/sim/groupsend/refuse", _gs_refuse),
    ("POST", "/sim/groupsend/confirm_pending", _gs_confirm_pending),
    ("POST", "/sim/groupsend/personal", _gs_personal),
    ("GET", "/sim/groupsend/tasks", _gs_tasks),
    ("GET", "/sim/groupsend/counts", _gs_counts),
    ("GET", "/sim/group_messages", _group_messages),
    ("POST", "/sim/callback_url", _callback_url),
    ("POST", "/sim/wait_delivered", _wait_delivered),
)


def register_control(app: web.Application, sim: Simulator) -> None:
    for method, path, route in _ROUTES:
        app.router.add_route(method, path, _wrap(sim, route))
