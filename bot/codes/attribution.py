"""Which store and channel a group join came from: the state of the join code.

WeCom does not put the state in the group callback; `groupchat/get` has it per member
(``member_list[].state``, only for joins through a join way with a state), and fills it in
asynchronously ("部分信息是异步处理", wecom-more.md §1c). So for a group that one of our
join codes serves, the members the first read shows without a state are read again after
short delays (`STATE_DELAYS_S`) until each has one or the delays run out. The rows are
written with the join itself (bot.handlers.groups), so a replay after a crash redoes this.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from bot.codes import records
from bot.db.engine import sql
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError

log = logging.getLogger(__name__)
STATE_DELAYS_S = (0.5, 1.0, 2.0, 4.0)  # 7.5 s at most, only for groups a join code serves
_JOIN_CODE_CHAT = sql("""
    SELECT 1 FROM customer_group g JOIN wecom_code c ON c.store_id = g.store_id
    WHERE g.chat_id = :chat_id AND c.kind = 'join' AND c.status = 'active'
""")
_RECORD = sql("""
    INSERT INTO group_join_state (chat_id, member_id, joined_at, state, store_id, channel,
                                  recorded_at)
    VALUES (:chat_id, :member_id, :joined_at, :state, :store_id, :channel, :recorded_at)
    ON CONFLICT (chat_id, member_id, joined_at) DO NOTHING
""")

JoinStates = dict[str, tuple[str, float]]  # member id -> (state, join time)


def _found(group: Mapping[str, Any] | None, wanted: Sequence[str]) -> JoinStates:
    states: JoinStates = {}
    for member in (group or {}).get("member_list", []):
        if member.get("userid") in wanted and member.get("state"):
            states[str(member["userid"])] = (str(member["state"]),
                                            float(member.get("join_time") or 0))
    return states


async def join_states(client: WeComClient, chat_id: str, joined: Sequence[str],
                      group: Mapping[str, Any] | None, served: bool,
                      delays: Sequence[float] = STATE_DELAYS_S) -> JoinStates:
    """The join-code state of each customer in `joined`, from the read the handler made
    and, for a group our join codes serve (`served`), from reads after short delays."""
    customers = [m["userid"] for m in (group or {}).get("member_list", [])
                 if m.get("userid") in joined and int(m.get("type", 2)) == 2]
    states = _found(group, customers)
    if not served:
        return states
    for delay in delays:
        if len(states) == len(customers):
            break
        await asyncio.sleep(delay)
        try:
            states.update(_found(await client.get_group_chat(chat_id), customers))
        except WeComError as exc:
            log.info("groupchat/get %s for join states failed: %s", chat_id, exc)
    missing = [m for m in customers if m not in states]
    if missing:
        log.info("group %s: no join state for %s (joined another way, or WeCom was late)",
                 chat_id, ", ".join(missing))
    return states


def serves(conn: Connection, chat_id: str) -> bool:
    """Whether the group belongs to a store that has a recorded join code."""
    return conn.execute(_JOIN_CODE_CHAT, {"chat_id": chat_id}).first() is not None


def record_join_states(conn: Connection, chat_id: str, states: JoinStates,
                       fallback_at: float) -> None:
    """One row per attributed join: the state, and the store and channel it stands for."""
    for member_id, (state, joined_at) in states.items():
        owner = records.state_owner(conn, state)
        conn.execute(_RECORD, {"chat_id": chat_id, "member_id": member_id,
                               "joined_at": joined_at or fallback_at, "state": state,
                               "store_id": owner[0] if owner else None,
                               "channel": owner[1] if owner else "",
                               "recorded_at": time.time()})
