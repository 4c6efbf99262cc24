"""The `wecom_code` rows: what `codes sync` made, read back by the planner, the welcomes
(the store's join code), the join attribution and the cards.

Portable SQL (SQLite and PostgreSQL): upserts with ON CONFLICT, nothing else special.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from bot.codes.model import DesiredCode, GroupRoom, RecordedCode
from bot.db.engine import Database, sql

CREATING = "creating"  # the create call may have gone out; no id recorded yet
ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class CodeRow:
    """One `wecom_code` row as the planner reads it."""

    key: str
    kind: str
    config_id: str
    state: str
    qr_code: str
    store_id: str | None
    store_name: str
    channel: str
    spec_hash: str
    notified_hash: str
    status: str
    created_at: float


_SELECT = sql("""
    SELECT key, kind, config_id, state, qr_code, store_id, store_name, channel, spec_hash,
           notified_hash, status, created_at
    FROM wecom_code ORDER BY key
""")
_UPSERT = sql("""
    INSERT INTO wecom_code (key, kind, config_id, state, qr_code, pic_url, store_id,
                            store_name, channel, spec_hash, body, notified_hash, status,
                            created_at, updated_at)
    VALUES (:key, :kind, :config_id, :state, :qr_code, '', :store_id, :store_name, :channel,
            :spec_hash, :body, '', :status, :at, :at)
    ON CONFLICT (key) DO UPDATE SET
        kind = excluded.kind, config_id = excluded.config_id, state = excluded.state,
        qr_code = excluded.qr_code, store_id = excluded.store_id,
        pic_url = CASE WHEN wecom_code.qr_code = excluded.qr_code
                       THEN wecom_code.pic_url ELSE '' END,
        store_name = excluded.store_name, channel = excluded.channel,
        spec_hash = excluded.spec_hash, body = excluded.body, status = excluded.status,
        updated_at = excluded.updated_at
""")
_BODY = sql("""SELECT config_id, body FROM wecom_code
               WHERE key = :key AND status = 'active'""")
_FOLLOWED = sql("""UPDATE wecom_code SET spec_hash = :spec_hash, body = :body, updated_at = :at
                   WHERE key = :key AND body = :old""")
_NOTIFIED = sql("UPDATE wecom_code SET notified_hash = :hash WHERE key = :key")
_DROP = sql("DELETE FROM wecom_code WHERE key = :key")
JOIN_URL_SQL = ("SELECT qr_code FROM wecom_code "  # also the till lookup's (bot.members)
                "WHERE kind = 'join' AND store_id = :store_id AND status = 'active'")
_JOIN_URL = sql(JOIN_URL_SQL)
_JOIN_PICTURE_SQL = ("SELECT CASE WHEN pic_url != '' THEN pic_url ELSE qr_code END "
                     "FROM wecom_code "
                     "WHERE kind = 'join' AND store_id = :store_id AND status = 'active'")
_UNHOSTED = sql("""SELECT key, qr_code FROM wecom_code
                   WHERE kind = 'join' AND status = 'active' AND qr_code != ''
                     AND pic_url = '' ORDER BY key""")
_HOSTED = sql("UPDATE wecom_code SET pic_url = :pic_url WHERE key = :key AND qr_code = :qr")
_BY_STATE = sql("""SELECT store_id, channel FROM wecom_code
                   WHERE state = :state AND status = 'active'""")
_ROOMS = sql("""
    SELECT g.store_id, g.chat_id, COUNT(m.member_id) AS members
    FROM customer_group g LEFT JOIN group_member m ON m.chat_id = g.chat_id
    WHERE g.store_id IS NOT NULL AND g.dismissed_at IS NULL
    GROUP BY g.store_id, g.chat_id, g.created_at
    ORDER BY g.store_id, g.created_at, g.chat_id
""")
_STORE_CHAT = sql("""SELECT store_id FROM customer_group WHERE chat_id = :chat_id""")
_STORE_ROOMS = sql("""
    SELECT g.chat_id, COUNT(m.member_id) AS members
    FROM customer_group g LEFT JOIN group_member m ON m.chat_id = g.chat_id
    WHERE g.store_id = :store_id AND g.dismissed_at IS NULL
    GROUP BY g.chat_id, g.created_at
    ORDER BY g.created_at, g.chat_id
""")


def load_rows(conn: Connection) -> dict[str, CodeRow]:
    return {row[0]: CodeRow(*row) for row in conn.execute(_SELECT)}


def _params(code: DesiredCode, *, config_id: str, qr_code: str, spec_hash: str,
            status: str, at: float) -> dict[str, Any]:
    return {"key": code.key, "kind": code.kind, "config_id": config_id, "state": code.state,
            "qr_code": qr_code, "store_id": code.store_id, "store_name": code.store_name,
            "channel": code.channel, "spec_hash": spec_hash, "status": status, "at": at,
            "body": _body_json(code)}


def _body_json(code: DesiredCode) -> str:
    return json.dumps({"wecom": code.body, "full_at": code.full_at}, ensure_ascii=False,
                      sort_keys=True)


def record_intent(conn: Connection, code: DesiredCode, at: float) -> None:
    """Before the create call: if we die before `record_made`, the next run knows to look."""
    conn.execute(_UPSERT, _params(code, config_id="", qr_code="", spec_hash="",
                                  status=CREATING, at=at))


def record_made(conn: Connection, code: DesiredCode, config_id: str, qr_code: str,
                at: float, spec_hash: str | None = None) -> None:
    """WeCom made (or we found) the code: its id and QR, and the spec it has."""
    conn.execute(_UPSERT, _params(code, config_id=config_id, qr_code=qr_code,
                                  spec_hash=code.spec_hash if spec_hash is None else spec_hash,
                                  status=ACTIVE, at=at))


def recorded_body(conn: Connection, key: str) -> tuple[str, str] | None:
    """(config_id, recorded body JSON) of an active code (see `body_of`)."""
    row = conn.execute(_BODY, {"key": key}).first()
    return (str(row[0]), str(row[1])) if row is not None and row[1] else None


def body_of(recorded: str) -> tuple[dict[str, Any], int]:
    """The body last sent to WeCom, and the join code's full_at, from the recorded JSON."""
    data = json.loads(recorded)
    return dict(data["wecom"]), int(data.get("full_at", 0))


def record_followed(conn: Connection, old: str, new: DesiredCode, at: float) -> bool:
    """A join code moved to the store's current groups, unless a sync changed it since."""
    found = conn.execute(_FOLLOWED, {"key": new.key, "spec_hash": new.spec_hash, "at": at,
                                     "body": _body_json(new), "old": old})
    return bool(found.rowcount)


def record_notified(conn: Connection, key: str, spec_hash: str) -> None:
    conn.execute(_NOTIFIED, {"key": key, "hash": spec_hash})


def drop(conn: Connection, key: str) -> None:
    conn.execute(_DROP, {"key": key})


def store_rooms(conn: Connection) -> dict[str, list[GroupRoom]]:
    """Each store's live customer groups with their member counts, oldest first."""
    rooms: dict[str, list[GroupRoom]] = {}
    for store_id, chat_id, members in conn.execute(_ROOMS):
        rooms.setdefault(str(store_id), []).append(GroupRoom(str(chat_id), int(members)))
    return rooms


def rooms_of(conn: Connection, store_id: str) -> list[GroupRoom]:
    """One store's live customer groups with their member counts, oldest first."""
    return [GroupRoom(str(c), int(n)) for c, n in conn.execute(_STORE_ROOMS,
                                                                {"store_id": store_id})]


def join_code_url(conn: Connection, store_id: str) -> str | None:
    """The https QR image WeCom made for the store's 「加入群聊」 code (a page shows it)."""
    return conn.execute(_JOIN_URL, {"store_id": store_id}).scalar()


def unhosted_join_codes(conn: Connection) -> list[tuple[str, str]]:
    """(key, qr_code) of the join codes whose QR image has no uploaded copy yet."""
    return [(str(k), str(q)) for k, q in conn.execute(_UNHOSTED)]


def record_hosted(conn: Connection, key: str, qr_code: str, pic_url: str) -> None:
    """The uploaded copy of a join code's QR (ignored if the code was made again since)."""
    conn.execute(_HOSTED, {"key": key, "qr": qr_code, "pic_url": pic_url})


async def lookup_join_code_picture(db: Database, store_id: str) -> str | None:
    """The store's join code as messages carry it: the copy uploaded with media/uploadimg,
    or WeCom's own qr_code URL until that copy exists (docs/codes.md). On a welcome's
    path: `Database.lookup`, no reader thread."""
    url = await db.lookup(_JOIN_PICTURE_SQL, {"store_id": store_id})
    return None if url is None else str(url)


def state_owner(conn: Connection, state: str) -> tuple[str | None, str] | None:
    """(store id, channel) of the code that carries `state`, if we made one."""
    row = conn.execute(_BY_STATE, {"state": state}).first()
    return (row[0], str(row[1])) if row is not None else None


def chat_store(conn: Connection, chat_id: str) -> str | None:
    return conn.execute(_STORE_CHAT, {"chat_id": chat_id}).scalar()


def read_recorded(conn: Connection, store: str | None = None,
                  channel: str | None = None) -> list[RecordedCode]:
    """The recorded codes (made, not just intended), optionally of one store or channel."""
    return [RecordedCode(r.store_id, r.store_name, r.channel, r.state, r.qr_code, r.kind,
                         r.config_id)
            for r in load_rows(conn).values()
            if r.status == ACTIVE and (store is None or r.store_id == store)
            and (channel is None or r.channel == channel)]


async def recorded_codes(db: Database, store: str | None = None,
                         channel: str | None = None) -> list[RecordedCode]:
    """For the cards and the `二维码` command: each code with its store, channel, state and
    QR image URL (chain-wide codes have store_id None)."""
    return await db.read(lambda conn: read_recorded(conn, store, channel))
