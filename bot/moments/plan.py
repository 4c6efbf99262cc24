"""A ``via: moment`` slot becomes outbox rows: one moment task per store, posted by that
store's staff (its manager and the ``staff:`` of stores.yaml with that store), shown to
their customers with the SOP's tags (``visible_range``).

The body is complete when the row is written (media uploaded, tags resolved to ids), so a
call made again after a crash is the same call, and the look-up for a lost answer compares
against exactly what WeCom was given.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from bot.books.stores import StoreDirectory
from bot.media.cache import MediaCache, MediaFileError
from bot.media.images import is_local_image
from bot.outbox.recipients import resolve_tags
from bot.outbox.rows import PlannedSend
from bot.sop.book import SopBook
from bot.sop.model import MemberSelect, Sop, SopError
from bot.wecom.errors import WeComError

log = logging.getLogger(__name__)

VIA = "moment"  # outbox_send.via of a moment task


def is_local_media(value: str) -> bool:
    """A local picture or MP4 under sop/ (uploaded before the task is made)."""
    return is_local_image(value) or ("://" not in value and value.lower().endswith(".mp4"))


def store_staff(stores: StoreDirectory, store_id: str) -> list[str]:
    """Who posts a store's moment: its manager, then its other staff (file order)."""
    store = stores.get(store_id)
    if store is None:
        return []
    others = [str(m["userid"]) for m in stores.staff_rows()
              if m["store_id"] == store_id and m["userid"] != store.manager_userid]
    return [store.manager_userid, *others]


def moment_attachments(attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rendered SOP attachments in a moment's shape: an image and a video by ``media_id``,
    a link as ``{title, url, media_id}`` (its cover picture); the media still local names."""
    out: list[dict[str, Any]] = []
    for attachment in attachments:
        kind = str(attachment.get("msgtype"))
        inner = dict(attachment.get(kind) or {})
        if kind == "image":
            out.append({"msgtype": "image",
                        "image": {"media_id": inner.get("media_id") or inner.get("pic_url")}})
        elif kind == "link":
            link = {"title": inner.get("title", ""), "url": inner.get("url", "")}
            if is_local_image(str(inner.get("picurl", ""))):
                link["media_id"] = inner["picurl"]
            out.append({"msgtype": "link", "link": link})
        elif kind == "video":
            out.append({"msgtype": "video", "video": {"media_id": inner.get("media_id")}})
    return out


def moment_tag_ids(conn: Connection, sop: Sop) -> list[str]:
    """The ids of the corp tags the SOP's ``to: {members: {tags}}`` names (by name, at send
    time, like member sends: a tag made after the file was written still counts)."""
    target = sop.target
    if not isinstance(target, MemberSelect) or not target.tags:
        return []
    return sorted(frozenset().union(*resolve_tags(conn, target.tags)))


def moment_body(text: str, attachments: list[dict[str, Any]], senders: list[str],
                tag_ids: list[str]) -> dict[str, Any]:
    """The body of ``externalcontact/add_moment_task``."""
    visible: dict[str, Any] = {"sender_list": {"user_list": senders}}
    if tag_ids:
        visible["external_contact_list"] = {"tag_list": tag_ids}
    body: dict[str, Any] = {"visible_range": visible}
    if text:
        body["text"] = {"content": text}
    if attachments:
        body["attachments"] = moment_attachments(attachments)
    return body


def moment_sends(book: SopBook, sop: Sop, slot: datetime, label: str, tag_ids: list[str],
                 errors: list[str]) -> list[PlannedSend]:
    """One moment task per store the SOP reaches; `tag_ids` are its tags resolved (empty:
    every customer of the store's staff). A store that does not render is left out."""
    target = sop.target
    assert isinstance(target, MemberSelect)  # compile gives every moment SOP one
    if target.tags and not tag_ids:
        errors.append(f"none of the tags {', '.join(map(str, target.tags))} exists in WeCom "
                      "yet: no moment made")
        return []
    sends: list[PlannedSend] = []
    for store in book.stores_for(sop):
        try:
            message = book.render(sop, store.id, slot)
        except SopError as exc:
            log.error("%s %s: store %s: %s", sop.name, label, store.id, exc)
            errors.append(f"store {store.id}: {exc}")
            continue
        senders = store_staff(book.stores, store.id)
        body = moment_body(message.text, message.attachments, senders, tag_ids)
        sends.append(PlannedSend(key=f"{sop.name}|{label}|moment:{store.id}", via=VIA,
                                 sender=senders[0], robot="", store_id=store.id, body=body,
                                 chat_ids=()))
    return sends


async def upload_moment_media(media: MediaCache, sends: list[PlannedSend],
                              errors: list[str]) -> list[PlannedSend]:
    """Each send with its local media swapped for upload_attachment ids; a send whose media
    cannot be uploaded is left out (noted on the slot), the others go."""
    out: list[PlannedSend] = []
    for send in sends:
        attachments = send.body.get("attachments") or []
        try:
            hosted = [await _hosted(media, a) for a in attachments]
        except (MediaFileError, ValueError, WeComError) as exc:
            log.error("moment %s: media not uploaded: %s", send.key, exc)
            errors.append(f"store {send.store_id}: {exc}")
            continue
        out.append(dataclasses.replace(send, body={**send.body, "attachments": hosted})
                   if hosted else send)
    return out


async def _hosted(media: MediaCache, attachment: dict[str, Any]) -> dict[str, Any]:
    kind = str(attachment["msgtype"])
    inner = dict(attachment[kind])
    name = inner.get("media_id")
    if isinstance(name, str) and is_local_media(name):
        inner["media_id"] = await media.moment_media(name)
    return {"msgtype": kind, kind: inner}
