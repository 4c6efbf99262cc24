"""「联系我」 contact ways, 「加入群聊」 join ways and group welcome templates (doc 92228,
92229, 92366; /work/shared/wecom-more.md §1, §2).

One function per API, taking the `WeComClient`, so the client module stays as it is. What
WeCom enforces, and what the callers must plan around:

- a contact way's ``state`` (≤ 30 characters) comes back in the add_external_contact
  callback; a join way's only in ``groupchat/get`` ``member_list[].state``, filled in
  asynchronously;
- ≤ 100 staff per contact way (41041), ≤ 5 groups per join way; contact and join ways share
  one cap of 500,000 per corp (41045 when reached);
- update_contact_way and update_join_way overwrite (send the whole spec every time);
- join ways and group welcome templates cannot be listed back: keep their ids; contact
  ways can (``list_contact_way``, created after 2021-07-10, a window of at most 90 days);
- an app may only read or change what it created itself; an unknown or foreign id is
  41044 (contact ways; taken for join ways too) and 41058 for templates.

The add calls are never repeated on a lost answer (``retry_unanswered=False``): a second
call would make a second code. The caller finds out what the first one did (bot.codes.sync
looks for the state before it creates again).
"""

from __future__ import annotations

from typing import Any

from bot.wecom.client import WeComClient

MAX_STATE_CHARS = 30
MAX_CONTACT_WAY_USERS = 100
MAX_JOIN_WAY_CHATS = 5
MAX_REMARK_CHARS = 30
MAX_ROOM_BASE_NAME_CHARS = 40
MAX_GROUP_WELCOME_TEXT_BYTES = 3000
MAX_GROUP_WELCOME_TEMPLATES = 100
LIST_CONTACT_WAY_MAX_LIMIT = 1000
LIST_WINDOW_S = 90 * 86_400  # list_contact_way's default (and widest) window

INVALID_CONFIG_ID = 41044  # unknown, deleted or not this app's config_id
TOO_MANY_USERS = 41041
WAY_QUOTA_REACHED = 41045
TEMPLATE_LIMIT = 41055
NO_TEMPLATE_PERMISSION = 41058


# -- 「联系我」 ----------------------------------------------------------------------------


async def add_contact_way(client: WeComClient, body: dict[str, Any]) -> dict[str, Any]:
    """externalcontact/add_contact_way: `{config_id, qr_code}` (qr_code for scene 2)."""
    data = await client.call("externalcontact/add_contact_way", body, retry_unanswered=False)
    return {"config_id": str(data["config_id"]), "qr_code": str(data.get("qr_code", ""))}


async def get_contact_way(client: WeComClient, config_id: str) -> dict[str, Any]:
    """externalcontact/get_contact_way: the way as WeCom holds it (with its qr_code)."""
    data = await client.call("externalcontact/get_contact_way", {"config_id": config_id})
    return dict(data.get("contact_way", {}))


async def update_contact_way(client: WeComClient, body: dict[str, Any]) -> None:
    """externalcontact/update_contact_way: overwrites user/party/remark/state... of
    ``body["config_id"]``; 41044 when it is gone."""
    await client.call("externalcontact/update_contact_way", body)


async def del_contact_way(client: WeComClient, config_id: str) -> None:
    """externalcontact/del_contact_way: a printed QR card dies with it."""
    await client.call("externalcontact/del_contact_way", {"config_id": config_id})


async def list_contact_way(client: WeComClient, start_time: int | None = None,
                           end_time: int | None = None) -> list[str]:
    """externalcontact/list_contact_way: every config_id of the window (default: the last
    90 days), all pages. Temporary ways are not listed."""
    body: dict[str, Any] = {"limit": LIST_CONTACT_WAY_MAX_LIMIT}
    if start_time is not None:
        body["start_time"] = start_time
    if end_time is not None:
        body["end_time"] = end_time
    found: list[str] = []
    cursor = ""
    while True:
        data = await client.call("externalcontact/list_contact_way", {**body, "cursor": cursor})
        found.extend(str(w["config_id"]) for w in data.get("contact_way", []))
        cursor = str(data.get("next_cursor") or "")
        if not cursor:
            return found


# -- 「加入群聊」 --------------------------------------------------------------------------


async def add_join_way(client: WeComClient, body: dict[str, Any]) -> str:
    """externalcontact/groupchat/add_join_way: the new config_id (no qr_code here: ask
    get_join_way)."""
    data = await client.call("externalcontact/groupchat/add_join_way", body,
                             retry_unanswered=False)
    return str(data["config_id"])


async def get_join_way(client: WeComClient, config_id: str) -> dict[str, Any]:
    """externalcontact/groupchat/get_join_way: the way with its qr_code (scene 2)."""
    data = await client.call("externalcontact/groupchat/get_join_way", {"config_id": config_id})
    return dict(data.get("join_way", {}))


async def update_join_way(client: WeComClient, body: dict[str, Any]) -> None:
    """externalcontact/groupchat/update_join_way: an overwrite of ``body["config_id"]``."""
    await client.call("externalcontact/groupchat/update_join_way", body)


async def del_join_way(client: WeComClient, config_id: str) -> None:
    """externalcontact/groupchat/del_join_way."""
    await client.call("externalcontact/groupchat/del_join_way", {"config_id": config_id})


# -- 入群欢迎语素材 ------------------------------------------------------------------------


async def add_group_welcome_template(client: WeComClient, body: dict[str, Any]) -> str:
    """externalcontact/group_welcome_template/add: the template_id (100 per corp, 41055)."""
    data = await client.call("externalcontact/group_welcome_template/add", body,
                             retry_unanswered=False)
    return str(data["template_id"])


async def edit_group_welcome_template(client: WeComClient, body: dict[str, Any]) -> None:
    """externalcontact/group_welcome_template/edit: ``body["template_id"]`` plus the
    fields; only templates this app created (41058)."""
    await client.call("externalcontact/group_welcome_template/edit", body)


async def get_group_welcome_template(client: WeComClient, template_id: str) -> dict[str, Any]:
    """externalcontact/group_welcome_template/get: text and attachment as stored."""
    return await client.call("externalcontact/group_welcome_template/get",
                             {"template_id": template_id})


async def del_group_welcome_template(client: WeComClient, template_id: str) -> None:
    """externalcontact/group_welcome_template/del."""
    await client.call("externalcontact/group_welcome_template/del",
                      {"template_id": template_id})
