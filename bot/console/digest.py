"""The weekly group-health digest: each store manager's groups by class (app message), and
the chain's summary to the managers' robot (sop/robots.yaml), sent through the outbox.

Planned once a week (Monday from 09:00, the chain's time) by the rollup job, after the
health table is rebuilt. The week's `sop_slot` row (sop ``console-digest``) is the
idempotency key, as for an SOP slot: a second run, a restart or a second replica plans
nothing more, and every message is an `outbox_send` row the worker sends exactly once
(app messages with WeCom's duplicate check, as owner reminders are).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.engine import Connection

from bot.books.stores import StoreDirectory
from bot.console.days import bounds
from bot.db.engine import sql
from bot.outbox.owner_posts import REMIND_VIA
from bot.outbox.status import SendStatus, SlotStatus
from bot.sop.robots import Robot

log = logging.getLogger(__name__)
SOP = "console-digest"
SEND_HOUR = 9
DUPLICATE_CHECK_S = 4 * 3600  # message/send's duplicate check covers a resend after a crash


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def due(now: float, tz: tzinfo) -> date | None:
    """The Monday whose digest is due now (Monday from 09:00 on), else None."""
    local = datetime.fromtimestamp(now, tz)
    return local.date() if local.weekday() == 0 and local.hour >= SEND_HOUR else None


def _counts(conn: Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for store, health, n in conn.execute(sql("""SELECT store_id, health, count(*)
            FROM console_group_health GROUP BY store_id, health""")):
        out[store][health] = int(n)
    return out


def _line(name: str, counts: dict[str, int], labels: dict[str, str]) -> str:
    return f"{name}：" + " · ".join(f"{label} {counts.get(key, 0)}" for key, label in
                                   labels.items())


def manager_text(stores: list[Any], counts: dict[str, dict[str, int]], labels: dict[str, str],
                 monday: date, console_url: str) -> str:
    lines = [f"【群健康周报】{monday:%m月%d日}这周"]
    lines += [_line(s.name, counts.get(s.id, {}), labels) for s in stores]
    act = sum(n for s in stores for k, n in counts.get(s.id, {}).items() if k != "value")
    lines.append(f"要处理的群 {act} 个，明细见运营控制台「群健康」"
                 + (f"：{console_url}/console/groups" if console_url else ""))
    return "\n".join(lines)


def plan_digest(conn: Connection, monday: date, tz: tzinfo, stores: StoreDirectory,
                labels: dict[str, str], robot: Robot | None, console_url: str,
                now: float) -> int:
    """Write this week's digest sends; how many (0 when the week was already planned)."""
    slot_at = bounds(monday, tz)[0] + SEND_HOUR * 3600
    slot_id = conn.execute(sql("""INSERT INTO sop_slot (sop, slot_at, slot_local, status,
        fired_at, late_s, groups, held, note) VALUES (:sop, :slot_at, :local, :status, :now,
        0, 0, 0, 'group-health digest') ON CONFLICT (sop, slot_at) DO NOTHING RETURNING id"""),
        {"sop": SOP, "slot_at": slot_at, "local": f"{monday} 09:00",
         "status": SlotStatus.PLANNED, "now": now}).scalar()
    if slot_id is None:
        return 0
    counts = _counts(conn)
    managers: dict[str, list[Any]] = defaultdict(list)
    for store in stores.all():
        managers[store.manager_userid].append(store)
    sends = []
    for userid, own in managers.items():
        body = {"touser": userid, "msgtype": "text", "enable_duplicate_check": 1,
                "duplicate_check_interval": DUPLICATE_CHECK_S,
                "text": {"content": manager_text(own, counts, labels, monday, console_url)}}
        sends.append((f"{SOP}|{monday}|{userid}", REMIND_VIA, userid, "", own[0].id, body))
    if robot is not None:
        chain = {k: sum(c.get(k, 0) for c in counts.values()) for k in labels}
        text = (f"【群健康周报】{monday:%m月%d日}这周，全部门店：" + _line("", chain, labels)[1:]
                + "\n各店明细已发给店长" + (f"；控制台：{console_url}/console/groups"
                                             if console_url else ""))
        sends.append((f"{SOP}|{monday}|robot|{robot.name}", "robot", "", robot.name, None,
                      robot.payload(text)))
    conn.execute(sql("""INSERT INTO outbox_send (key, slot_id, via, sender, robot, store_id,
        payload, status, attempts, next_at, created_at, msgid, reminders) VALUES (:key,
        :slot_id, :via, :sender, :robot, :store_id, :payload, :status, 0, :now, :now, '', 0)
        ON CONFLICT (key) DO NOTHING"""),
        [{"key": key, "slot_id": slot_id, "via": via, "sender": sender, "robot": robot_name,
          "store_id": store_id, "payload": json.dumps(body, ensure_ascii=False),
          "status": SendStatus.QUEUED, "now": now}
         for key, via, sender, robot_name, store_id, body in sends])
    log.info("group-health digest of %s planned: %d messages", monday, len(sends))
    return len(sends)
