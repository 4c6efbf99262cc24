"""The SOP outbox in SQL: slots, sends (one WeCom call each) and deliveries (one per group).

Why three tables: the issue's unit of "exactly once" is (SOP, slot, group), but WeCom's
unit of work is one add_msg_template per owner covering up to 2000 of their groups. A
*delivery* row per group exists before anything is sent and says what that group got; a
*send* row per call carries the idempotency key, the request body and the call's progress.
Everything here is a plain function of a connection, run by `Database.write` / `read`.
Hand-written SQL for the same reason as `bot.db.repo`: it compiles once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from bot.db import claims
from bot.db.engine import sql
from bot.outbox.status import (
    ACTIVE,
    OPEN_DELIVERIES,
    QUOTA_COUNTED,
    DeliveryStatus,
    PostStatus,
    SendStatus,
    SlotStatus,
    check_move,
    sql_in,
)

D = DeliveryStatus
S = SendStatus


@dataclass(frozen=True, slots=True)
class PlannedSend:
    key: str
    via: str
    sender: str
    robot: str
    store_id: str | None
    body: dict[str, Any]
    chat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlannedPost:
    """One group's owner post (via owner_post): what its owner is to post there."""

    chat_id: str
    owner: str
    store_id: str | None
    text: str
    attachments: tuple[dict[str, Any], ...] = ()
    title: str = ""  # what the sidebar calls it (the SOP's title: 今日秒杀)


@dataclass(frozen=True, slots=True)
class SendRow:
    id: int
    key: str
    via: str
    sender: str
    robot: str
    store_id: str | None
    payload: str
    status: str
    attempts: int
    next_at: float
    created_at: float
    sent_at: float | None
    msgid: str
    reminders: int
    claimed_by: str | None = None  # the replica that made (or is making) the call

    @property
    def body(self) -> dict[str, Any]:
        return dict(json.loads(self.payload))



# -- planning --------------------------------------------------------------------------

_SLOT_NEW = sql("""
    INSERT INTO sop_slot (sop, slot_at, slot_local, status, fired_at, late_s, groups, held, note)
    VALUES (:sop, :slot_at, :slot_local, :status, :fired_at, :late_s, :groups, :held, :note)
    ON CONFLICT (sop, slot_at) DO NOTHING
    RETURNING id
""")
_SEND_NEW = sql("""
    INSERT INTO outbox_send (key, slot_id, via, sender, robot, store_id, payload, status,
                             attempts, next_at, created_at, msgid, reminders)
    VALUES (:key, :slot_id, :via, :sender, :robot, :store_id, :payload, :status, 0, :at, :at,
            '', 0)
    ON CONFLICT (key) DO NOTHING
""")
_SEND_IDS = sql("SELECT key, id FROM outbox_send WHERE slot_id = :slot_id")
_DELIVERY_NEW = sql("""
    INSERT INTO outbox_delivery (slot_id, chat_id, send_id, via, slot_at, status, updated_at)
    VALUES (:slot_id, :chat_id, :send_id, :via, :slot_at, :status, :at)
    ON CONFLICT (slot_id, chat_id) DO NOTHING
""")


_POST_NEW = sql("""
    INSERT INTO owner_post (slot_id, sop, slot_at, slot_local, chat_id, owner, store_id,
                            payload, status, created_at)
    VALUES (:slot_id, :sop, :slot_at, :slot_local, :chat_id, :owner, :store_id, :payload,
            :status, :at)
    ON CONFLICT (slot_id, chat_id) DO NOTHING
""")


def record_slot(conn: Connection, *, sop: str, slot_at: float, slot_local: str,
                status: SlotStatus,
                fired_at: float, late_s: float = 0.0, note: str = "",
                sends: Sequence[PlannedSend] = (), held: Sequence[str] = (),
                via: str = "", posts: Sequence[PlannedPost] = ()) -> int | None:
    """Write a slot with all its sends, deliveries and owner posts in one transaction.

    Returns the slot's id, or None when the slot was already recorded (a second firing, a
    catch-up racing the scheduler, a restart): then nothing at all is written. An owner
    reminder is a send without chat ids: it delivers nothing to a group itself.
    """
    groups = sum(len(s.chat_ids) for s in sends) + len(posts)
    row = conn.execute(_SLOT_NEW, {
        "sop": sop, "slot_at": slot_at, "slot_local": slot_local, "status": status,
        "fired_at": fired_at, "late_s": late_s, "groups": groups, "held": len(held),
        "note": note}).first()
    if row is None:
        return None
    slot_id = int(row[0])
    if sends:
        conn.execute(_SEND_NEW, [{
            "key": s.key, "slot_id": slot_id, "via": s.via, "sender": s.sender, "robot": s.robot,
            "store_id": s.store_id, "payload": json.dumps(s.body, ensure_ascii=False),
            "status": S.QUEUED, "at": fired_at} for s in sends])
        ids = {key: id_ for key, id_ in conn.execute(_SEND_IDS, {"slot_id": slot_id})}
    deliveries = [{"slot_id": slot_id, "chat_id": chat_id, "send_id": ids[s.key],
                   "via": s.via, "slot_at": slot_at, "status": D.QUEUED, "at": fired_at}
                  for s in sends for chat_id in s.chat_ids] if sends else []
    if deliveries:
        conn.execute(_DELIVERY_NEW, deliveries)
    if held:
        conn.execute(_DELIVERY_NEW, [{
            "slot_id": slot_id, "chat_id": chat_id, "send_id": None, "via": via,
            "slot_at": slot_at, "status": D.HELD_QUOTA, "at": fired_at} for chat_id in held])
    if posts:
        conn.execute(_POST_NEW, [{
            "slot_id": slot_id, "sop": sop, "slot_at": slot_at, "slot_local": slot_local,
            "chat_id": p.chat_id, "owner": p.owner, "store_id": p.store_id,
            "payload": json.dumps({"text": p.text, "attachments": list(p.attachments),
                                  "title": p.title},
                                  ensure_ascii=False),
            "status": PostStatus.DUE, "at": fired_at} for p in posts])
    return slot_id


_QUOTA_USED = sql(f"""
    SELECT chat_id, COUNT(*),
           SUM(CASE WHEN slot_at >= :day_start AND slot_at < :day_end THEN 1 ELSE 0 END)
    FROM outbox_delivery
    WHERE via = 'group_send' AND slot_at >= :start AND slot_at < :end
      AND status IN ({sql_in(QUOTA_COUNTED)})
    GROUP BY chat_id
""")  # noqa: S608 (constants only)


def quota_used(conn: Connection, start: float, end: float, day_start: float,
               day_end: float) -> dict[str, tuple[int, int]]:
    """Per chat, group sends that reached (or may still reach) it in [start, end), and how
    many of those fall in [day_start, day_end): one scan for the period and its day."""
    params = {"start": start, "end": end, "day_start": day_start, "day_end": day_end}
    return {chat: (int(n), int(today)) for chat, n, today in conn.execute(_QUOTA_USED, params)}


_SLOTS_IN = sql("SELECT slot_at FROM sop_slot WHERE sop = :sop AND slot_at >= :start"
                 " AND slot_at <= :end")


def recorded_slots(conn: Connection, sop: str, start: float, end: float) -> set[float]:
    return {float(v) for (v,) in conn.execute(_SLOTS_IN, {"sop": sop, "start": start, "end": end})}


# -- the worker's queue ----------------------------------------------------------------

_COLUMNS = ("id, key, via, sender, robot, store_id, payload, status, attempts, next_at, "
            "created_at, sent_at, msgid, reminders, claimed_by")
# Due rows are read in two parts: first those already under way (a check of a call cut by
# a crash, a follow-up, a resend), then the queued ones. One `ORDER BY next_at` put a check
# due 20 s after a kill -9 behind the whole chain-wide backlog: at 10,000 stores the
# resends it found necessary went out 45 s later, as the slot's tail. Each part is an
# index range of (status, next_at), read in order.
_PARTS = (tuple(s for s in ACTIVE if s != S.QUEUED), (S.QUEUED,))
_DUE = tuple(sql(f"""
    SELECT {_COLUMNS} FROM outbox_send
    WHERE status IN ({sql_in(statuses)}) AND next_at <= :now
    ORDER BY next_at LIMIT :limit
""") for statuses in _PARTS)  # noqa: S608 (constants only)
_NEXT_DUE = sql("SELECT MIN(next_at) FROM outbox_send"  # noqa: S608 (constants only)
                f" WHERE status IN ({sql_in(ACTIVE)})")
_KNOWN_MSGIDS = sql("SELECT msgid FROM outbox_send WHERE msgid IN :ids").bindparams(
    bindparam("ids", expanding=True))
_BY_STATUS = sql(f"SELECT {_COLUMNS} FROM outbox_send WHERE status = :status")  # noqa: S608
# PostgreSQL, several replicas: take a batch of due rows and lease it in one statement;
# SKIP LOCKED hands replicas asking at the same moment disjoint batches.
_LEASE_DUE = tuple(sql(f"""
    UPDATE outbox_send SET next_at = :lease, claimed_by = :me WHERE id IN (
        SELECT id FROM outbox_send
        WHERE status IN ({sql_in(statuses)}) AND next_at <= :now
        ORDER BY next_at LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING {_COLUMNS}
""") for statuses in _PARTS)  # noqa: S608 (constants only)


def due_sends(conn: Connection, now: float, limit: int) -> list[SendRow]:
    """Up to `limit` due rows: those under way first, then queued ones in due order."""
    return _by_parts(conn, _DUE, limit, {"now": now})


def lease_due(conn: Connection, now: float, limit: int, lease_until: float,
              me: str | None = None) -> list[SendRow]:
    """Due rows, leased to the caller until `lease_until` (PostgreSQL only); those under way
    first, as in `due_sends`.

    Queued rows are still claimed by `mark_sending` before any call and the others by
    `claim`, so a lease that runs out while the row waits here only lets another replica
    compete for it, never work on it twice. A replica that dies holding a lease delays
    those rows by the lease, nothing more.
    """
    return _by_parts(conn, _LEASE_DUE, limit, {"now": now, "lease": lease_until, "me": me})


def _by_parts(conn: Connection, statements: tuple[Any, ...], limit: int,
              params: dict[str, Any]) -> list[SendRow]:
    """Each part's rows until `limit`, by due time then id (RETURNING keeps no order;
    leased rows all carry the lease's time, so they go by id)."""
    rows: list[SendRow] = []
    for statement in statements:
        if len(rows) < limit:
            found = conn.execute(statement, {**params, "limit": limit - len(rows)})
            rows += sorted((SendRow(*row) for row in found), key=lambda r: (r.next_at, r.id))
    return rows


def release_orphaned_leases(conn: Connection, me: str, now: float) -> int:
    """Queued rows leased by a replica that died: due again now, not when the lease ends.

    Only `queued` rows: a created task's `next_at` is when to look at it next, a schedule
    rather than a lease. A queued row waiting out a retry delay is tried a little early,
    which costs at most one more error answer.
    """
    sql = text("UPDATE outbox_send SET next_at = :now, claimed_by = NULL "  # noqa: S608
               "WHERE status = :queued AND next_at > :now AND claimed_by IS NOT NULL AND "
               f"{claims.orphaned(conn)}")
    return int(conn.execute(sql, {"now": now, "me": me, "queued": S.QUEUED}).rowcount or 0)


def next_due(conn: Connection) -> float | None:
    value = conn.execute(_NEXT_DUE).scalar()
    return None if value is None else float(value)


def known_msgids(conn: Connection, msgids: Sequence[str]) -> set[str]:
    """Which of these 群发 msgids some send of ours already owns."""
    if not msgids:
        return set()
    return {str(m) for (m,) in conn.execute(_KNOWN_MSGIDS, {"ids": list(msgids)})}


def sends_with_status(conn: Connection, status: SendStatus) -> list[SendRow]:
    return [SendRow(*row) for row in conn.execute(_BY_STATUS, {"status": status})]


_SEND_UPDATE = {
    # Committed before the call goes out: a crash after this leaves a row that says
    # "the call may have reached WeCom", and recovery checks before calling again.
    "sending": sql("""UPDATE outbox_send SET status = :status, attempts = attempts + 1,
                       next_at = :at, claimed_by = :me WHERE id = :id AND status = :was"""),
    "park": sql("""UPDATE outbox_send SET status = :status, next_at = :next_at,
                    error = :error WHERE id = :id"""),
    "created": sql("""UPDATE outbox_send SET status = :status, msgid = :msgid,
                       sent_at = :at, next_at = :next_at, error = NULL WHERE id = :id"""),
    "follow": sql("""UPDATE outbox_send SET next_at = :next_at, reminders = :reminders,
                      error = :error WHERE id = :id"""),
    "final": sql("""UPDATE outbox_send SET status = :status, error = :error,
                     sent_at = COALESCE(sent_at, :sent_at) WHERE id = :id"""),
}
_DELIVERIES_OF_SEND = sql("""UPDATE outbox_delivery SET status = :status, updated_at = :at
                              WHERE send_id = :send_id AND status IN :from_status""").bindparams(
    bindparam("from_status", expanding=True))
_DELIVERY_ONE = sql("""UPDATE outbox_delivery SET status = :status, updated_at = :at
                        WHERE send_id = :send_id AND chat_id = :chat_id""")


_CLAIM = sql("""UPDATE outbox_send SET next_at = :lease WHERE id = :id AND status = :status
                  AND next_at = :seen""")


def claim(conn: Connection, row: SendRow, lease_until: float) -> bool:
    """Take a due row for one round of work, if nobody changed it since it was read.

    The row's `next_at` moves to `lease_until`, so the worker's next look at the queue (or
    another worker's) skips it; a row read before someone else's update is not claimed.
    """
    return bool(conn.execute(_CLAIM, {"id": row.id, "status": row.status,
                                      "seen": row.next_at, "lease": lease_until}).rowcount)


def mark_sending(conn: Connection, send_id: int, at: float, me: str | None = None) -> bool:
    """Claim a queued send for one attempt; False if someone else already has it."""
    status = check_move(S.QUEUED, S.SENDING)
    return bool(conn.execute(_SEND_UPDATE["sending"], {
        "id": send_id, "at": at, "me": me, "status": status, "was": S.QUEUED}).rowcount)


def orphaned_sends(conn: Connection, me: str) -> list[SendRow]:
    """Calls left `sending` by a process that is gone: a crash mid-call, here or on another
    replica. A live replica's calls in flight are not listed."""
    sql = text(f"SELECT {_COLUMNS} FROM outbox_send WHERE status = :sending AND "  # noqa: S608
               f"{claims.orphaned(conn)} ORDER BY id")
    return [SendRow(*row) for row in conn.execute(sql, {"me": me, "sending": S.SENDING})]


_TAKE_OVER = sql("""UPDATE outbox_send SET status = :status, next_at = :next_at, error = :error,
                        claimed_by = :me
                     WHERE id = :id AND status = :was AND COALESCE(claimed_by, '') = :old""")


def take_over(conn: Connection, row: SendRow, me: str, status: SendStatus, next_at: float,
              error: str) -> bool:
    """Move an orphaned `sending` row on, if it is still the orphan that was read: two
    survivors (or the owner's own late answer) cannot both act on it."""
    return bool(conn.execute(_TAKE_OVER, {
        "id": row.id, "status": check_move(S.SENDING, status), "was": S.SENDING,
        "next_at": next_at, "error": error, "me": me, "old": row.claimed_by or ""}).rowcount)


def mark_retry(conn: Connection, send_id: int, next_at: float, error: str, *,
               was: SendStatus, status: SendStatus = S.QUEUED) -> None:
    """Due again at `next_at` (`queued`), or parked `unknown` until it can be looked up."""
    conn.execute(_SEND_UPDATE["park"], {"id": send_id, "next_at": next_at, "error": error,
                                        "status": check_move(was, status)})


def mark_created(conn: Connection, send_id: int, msgid: str, at: float, next_at: float,
                 failed_chats: Iterable[str] = (), *, was: SendStatus) -> None:
    """add_msg_template accepted: its groups are submitted (those in fail_list failed)."""
    conn.execute(_SEND_UPDATE["created"], {"id": send_id, "msgid": msgid, "at": at,
                                           "next_at": next_at,
                                           "status": check_move(was, S.CREATED)})
    set_deliveries(conn, send_id, D.SUBMITTED, at, from_status=(D.QUEUED,))
    failed = list(failed_chats)
    if failed:
        conn.execute(_DELIVERY_ONE, [{"status": D.FAILED, "at": at, "send_id": send_id,
                                      "chat_id": chat} for chat in failed])


def mark_follow(conn: Connection, send_id: int, next_at: float, reminders: int,
                note: str | None = None) -> None:
    conn.execute(_SEND_UPDATE["follow"], {"id": send_id, "next_at": next_at,
                                          "reminders": reminders, "error": note})


def mark_final(conn: Connection, send_id: int, status: SendStatus, at: float, *,
               was: SendStatus, deliveries: DeliveryStatus | None, error: str | None = None,
               per_chat: dict[str, DeliveryStatus] | None = None) -> None:
    """End a send: `done`, `failed` or `uncertain`; its groups get `deliveries` status
    (or their own from `per_chat`, e.g. sent / quota_exceeded from the send result)."""
    conn.execute(_SEND_UPDATE["final"], {
        "id": send_id, "status": check_move(was, status), "error": error,
        "sent_at": at if status == S.DONE else None})
    if per_chat:
        conn.execute(_DELIVERY_ONE, [{"status": s, "at": at, "send_id": send_id,
                                      "chat_id": chat} for chat, s in per_chat.items()])
    if deliveries is not None:
        set_deliveries(conn, send_id, deliveries, at, from_status=OPEN_DELIVERIES)


def set_deliveries(conn: Connection, send_id: int, status: DeliveryStatus, at: float, *,
                   from_status: Sequence[DeliveryStatus]) -> None:
    conn.execute(_DELIVERIES_OF_SEND, {"status": status, "at": at, "send_id": send_id,
                                       "from_status": list(from_status)})


# -- reports ---------------------------------------------------------------------------

_DELIVERY_REPORT = sql("""
    SELECT s.sop, s.slot_local, d.chat_id, d.via, d.status
    FROM outbox_delivery d JOIN sop_slot s ON s.id = d.slot_id
    WHERE s.slot_at >= :start AND s.slot_at < :end
    ORDER BY s.slot_at, s.sop, d.chat_id
""")


def delivery_report(conn: Connection, start: float, end: float) -> list[tuple[str, ...]]:
    """(sop, slot_local, chat_id, via, status) for slots in [start, end): what operators see."""
    return [tuple(r) for r in conn.execute(_DELIVERY_REPORT, {"start": start, "end": end})]
