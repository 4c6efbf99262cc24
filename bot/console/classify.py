"""Classify every group under the operators' health rules, from the rollups of the window.

Run by the rollup job after the day's group rows are rebuilt: one pass over the window's
`console_group_day` rows and WeCom's per-owner figures, one rewrite of
`console_group_health`. The Groups page then reads a single indexed table.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from bot.console.health import HealthRules
from bot.db.engine import sql

_SUMMED = ("joins", "leaves", "removals", "rejoins", "owner_posts", "sent", "failed")


def owner_signals(conn: Connection, first: str, last: str,
                  days: int) -> dict[str, dict[str, float]]:
    """owner_silent_days and owner_msg_per_member per owner, from WeCom's figures. Days
    WeCom has not reported (not fetched yet) count as unknown, not silent."""
    out: dict[str, dict[str, float]] = {}
    for owner, reported, with_msg, msgs, members in conn.execute(sql("""
            SELECT owner, count(*), sum(CASE WHEN msg_total > 0 THEN 1 ELSE 0 END),
                   sum(msg_total), max(member_total)
            FROM wecom_owner_day WHERE day >= :first AND day <= :last GROUP BY owner"""),
            {"first": first, "last": last}):
        silent = int(reported) - int(with_msg or 0)
        out[owner] = {"owner_silent_days": silent if int(reported) >= days else 0,
                      "owner_msg_per_member": float(msgs or 0) / max(int(members or 0), 1)}
    return out


def build_health(conn: Connection, rules: HealthRules, last: date) -> int:
    first = (last - timedelta(days=rules.window_days - 1)).isoformat()
    sums: dict[str, dict[str, Any]] = defaultdict(lambda: dict.fromkeys(_SUMMED, 0))
    latest: dict[str, tuple[str, str, str, int, int]] = {}
    for row in conn.execute(sql(f"""
            SELECT chat_id, day, store_id, owner, members, top_inviter_joins, {', '.join(_SUMMED)}
            FROM console_group_day WHERE day >= :first AND day <= :last
            AND chat_id NOT LIKE '*%'"""),  # noqa: S608 (constant names; values bound)
            {"first": first, "last": last.isoformat()}):
        chat, day, store, owner, members, top = row[:6]
        group = sums[chat]
        for name, value in zip(_SUMMED, row[6:], strict=True):
            group[name] += int(value)
        seen = latest.get(chat)
        if seen is None or day > seen[0]:
            latest[chat] = (day, store, owner, int(members), max(int(top), seen[4] if seen else 0))
        else:
            latest[chat] = (*seen[:4], max(seen[4], int(top)))
    owners = owner_signals(conn, first, last.isoformat(), rules.window_days)
    names = dict(conn.execute(sql("SELECT chat_id, name FROM customer_group")).all())
    rows = []
    for chat, group in sums.items():
        _day, store, owner, members, top = latest[chat]
        signals = {**group, "members": members, "top_inviter_joins": top,
                   **owners.get(owner, {"owner_silent_days": 0, "owner_msg_per_member": 0.0})}
        health, reason = rules.classify(signals)
        rows.append({"chat_id": chat, "store_id": store, "owner": owner,
                     "name": names.get(chat, ""), "health": health.name, "reason": reason,
                     "members": members, "joins": group["joins"], "leaves": group["leaves"],
                     "removals": group["removals"], "owner_posts": group["owner_posts"],
                     "as_of": last.isoformat()})
    conn.execute(sql("DELETE FROM console_group_health"))
    if rows:
        conn.execute(sql("""INSERT INTO console_group_health (chat_id, store_id, owner, name,
            health, reason, members, joins, leaves, removals, owner_posts, as_of) VALUES
            (:chat_id, :store_id, :owner, :name, :health, :reason, :members, :joins, :leaves,
             :removals, :owner_posts, :as_of)"""), rows)
    return len(rows)
