"""What an operator may do to a send from the console: retry a failed one, cancel a queued one.

Both go through the outbox's state machine (`bot.outbox.status.check_move`): a retry is
``failed → queued`` (WeCom refused the call, so nothing went out and calling again cannot
deliver twice), a cancel ``queued → failed`` (nothing was called yet). Each is one UPDATE
that only matches the status the operator saw, so a send the worker moved meanwhile is
left alone and the operator is told (409). The send's groups follow it: failed ↔ queued.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from bot.db.engine import sql
from bot.outbox.status import DeliveryStatus, IllegalMove, SendStatus, check_move

CANCELLED = "已由运营在控制台取消"
ACTIONS = ("retry", "cancel")
_MOVE = {"retry": (SendStatus.FAILED, SendStatus.QUEUED, DeliveryStatus.FAILED,
                   DeliveryStatus.QUEUED),
         "cancel": (SendStatus.QUEUED, SendStatus.FAILED, DeliveryStatus.QUEUED,
                    DeliveryStatus.FAILED)}


class ActionRefused(Exception):
    """The send is not in a state this action applies to (or was moved meanwhile)."""


@dataclass(frozen=True, slots=True)
class SendInfo:
    id: int
    status: str
    store_id: str
    via: str


def send_info(conn: Connection, send_id: int) -> SendInfo | None:
    row = conn.execute(sql("SELECT id, status, coalesce(store_id, ''), via FROM outbox_send "
                           "WHERE id = :id"), {"id": send_id}).first()
    return SendInfo(int(row[0]), str(row[1]), str(row[2]), str(row[3])) if row else None


def apply(conn: Connection, send_id: int, action: str, now: float, who: str) -> str:
    """Move the send; its new status. `ActionRefused` if the move is not allowed now."""
    was, to, groups_were, groups_to = _MOVE[action]
    info = send_info(conn, send_id)
    if info is None or info.status != was:
        raise ActionRefused(f"只能{'重试失败的' if action == 'retry' else '取消排队中的'}发送")
    try:
        check_move(info.status, to)
    except IllegalMove as exc:
        raise ActionRefused(str(exc)) from None
    error = None if action == "retry" else f"{CANCELLED}（{who}）"
    moved = conn.execute(sql("""UPDATE outbox_send SET status = :to, next_at = :now,
                                error = :error, claimed_by = NULL
                                WHERE id = :id AND status = :was"""),
                         {"to": to, "now": now, "error": error, "id": send_id, "was": was})
    if not moved.rowcount:
        raise ActionRefused("这条发送刚刚被处理，请刷新页面")
    conn.execute(sql("""UPDATE outbox_delivery SET status = :to, updated_at = :now
                        WHERE send_id = :id AND status = :was"""),
                 {"to": groups_to, "now": now, "id": send_id, "was": groups_were})
    return str(to)
