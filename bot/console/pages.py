"""What each console page shows, as tables: read from the rollups (and, for today's sends,
from the outbox rows of today's slots, found through their slot ids), scoped to the viewer.

Every page is a list of `Table`s; the route renders each as an HTML table beside its chart
and as CSV on ``?format=csv&table=<key>``, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from bot.db.engine import sql

LIST_LIMIT = 500  # rows a list shows (and exports); the rest is narrowed by store or class


@dataclass
class Table:
    key: str
    title: str
    columns: list[tuple[str, str]]  # (field, heading)
    rows: list[dict[str, Any]]
    chart: dict[str, Any] = field(default_factory=dict)  # {"type", "x", "series": [fields]}
    note: str = ""


def _in_scope(column: str, scope: frozenset[str] | None) -> tuple[str, dict[str, Any]]:
    if scope is None:
        return "", {}
    return f" AND {column} IN :scope", {"scope": sorted(scope)}


def _run(conn: Connection, text: str, params: dict[str, Any]) -> list[Any]:
    statement = sql(text)
    if "scope" in params:
        statement = statement.bindparams(bindparam("scope", expanding=True))
    return list(conn.execute(statement, params))


# -- today ------------------------------------------------------------------------------

SEND_STATES = ("sent", "open", "held", "owner_posted", "owner_due", "unsent", "failed")
_STATE_OF = {"sent": "sent", "queued": "open", "submitted": "open", "uncertain": "open",
             "held_quota": "held", "quota_exceeded": "held", "unsent": "unsent",
             "failed": "failed"}
TODAY_COLUMNS = [("sent", "已送达"), ("open", "进行中"), ("held", "配额拦下"),
                 ("owner_posted", "群主已发"), ("owner_due", "群主待发"),
                 ("unsent", "群主未发"), ("failed", "失败")]


def today_slots(conn: Connection, t0: float, t1: float) -> Table:
    rows = [dict(zip(("id", "sop", "slot_local", "status", "groups", "held"), r, strict=True))
            for r in conn.execute(sql("""SELECT id, sop, slot_local, status, groups, held
                FROM sop_slot WHERE slot_at >= :t0 AND slot_at < :t1 ORDER BY slot_at, sop"""),
                {"t0": t0, "t1": t1})]
    return Table("slots", "今日 SOP 时段", [("slot_local", "时间"), ("sop", "SOP"),
                                          ("status", "状态"), ("groups", "排队群数"),
                                          ("held", "配额拦下")], rows)


def today_by_store(conn: Connection, t0: float, t1: float, scope: frozenset[str] | None,
                   names: Mapping[str, str]) -> Table:
    where, params = _in_scope("g.store_id", scope)
    counts: dict[str, dict[str, Any]] = {}

    def add(store: str | None, state: str, n: int) -> None:
        row = counts.setdefault(store or "", {"store_id": store or "", **dict.fromkeys(
            SEND_STATES, 0)})
        row[state] += int(n)

    for store, status, n in _run(conn, f"""SELECT g.store_id, d.status, count(*)
            FROM outbox_delivery d JOIN customer_group g ON g.chat_id = d.chat_id
            WHERE d.slot_at >= :t0 AND d.slot_at < :t1{where}
            GROUP BY g.store_id, d.status""", {"t0": t0, "t1": t1, **params}):  # noqa: S608 (constant names; values bound)
        add(store, _STATE_OF.get(status, "open"), n)
    where, params = _in_scope("store_id", scope)
    for store, status, n in _run(conn, f"""SELECT store_id, status, count(*) FROM owner_post
            WHERE slot_at >= :t0 AND slot_at < :t1{where} GROUP BY store_id, status""",  # noqa: S608 (constant names; values bound)
                                 {"t0": t0, "t1": t1, **params}):
        add(store, "owner_posted" if status == "posted" else "owner_due", n)
    rows = sorted(counts.values(), key=lambda r: (-r["failed"], r["store_id"]))[:LIST_LIMIT]
    for row in rows:
        row["store"] = names.get(row["store_id"], row["store_id"] or "（未归属门店）")
    return Table("stores", "各门店今日发送", [("store_id", "门店号"), ("store", "门店"),
                                          *TODAY_COLUMNS], rows,
                 chart={"type": "bar", "x": "store", "series": [c for c, _ in TODAY_COLUMNS],
                        "stack": True})


def today_by_store_rolled_up(conn: Connection, day: date, names: Mapping[str, str]) -> Table:
    """The chain's stores from the day's rollup (every store's ``*<store>`` row): what an
    operator sees first; at most `every_s` old, a store's page is live."""
    rows = []
    for r in conn.execute(sql(f"""
            SELECT store_id, sent, in_progress, held, owner_posts, owner_posts_due, unsent,
                   failed FROM console_group_day
            WHERE day = :day AND chat_id LIKE '*%' AND store_id <> '*'
            ORDER BY failed DESC, store_id LIMIT {LIST_LIMIT}"""),  # noqa: S608 (a constant)
            {"day": day.isoformat()}):
        store, sent, in_progress, held, posted, due, unsent, failed = r
        rows.append({"store_id": store, "store": names.get(store, store or "（未归属门店）"),
                     "sent": sent, "open": in_progress, "held": held, "owner_posted": posted,
                     "owner_due": max(due - posted, 0), "unsent": unsent, "failed": failed})
    return Table("stores", "各门店当天发送（汇总）", [("store_id", "门店号"), ("store", "门店"),
                                                 *TODAY_COLUMNS], rows,
                 chart={"type": "bar", "x": "store", "series": [c for c, _ in TODAY_COLUMNS],
                        "stack": True},
                 note="全部门店的汇总每5分钟更新一次，按失败数排序；点门店看实时明细。")


def today_groups(conn: Connection, t0: float, t1: float, store_id: str) -> Table:
    """A store's groups, one row per group and slot: the drill-down from a store."""
    rows = [dict(zip(("chat_id", "name", "slot_local", "sop", "status", "send_id",
                      "send_status", "error"), r, strict=True)) for r in conn.execute(sql("""
        SELECT g.chat_id, g.name, s.slot_local, s.sop, d.status, d.send_id,
               coalesce(o.status, ''), coalesce(o.error, '')
        FROM customer_group g JOIN outbox_delivery d ON d.chat_id = g.chat_id
        JOIN sop_slot s ON s.id = d.slot_id
        LEFT JOIN outbox_send o ON o.id = d.send_id
        WHERE g.store_id = :store AND d.slot_at >= :t0 AND d.slot_at < :t1
        UNION ALL
        SELECT p.chat_id, g.name, p.slot_local, p.sop,
               CASE WHEN p.status = 'posted' THEN 'owner_posted' ELSE 'owner_due' END,
               NULL, '', ''
        FROM owner_post p JOIN customer_group g ON g.chat_id = p.chat_id
        WHERE p.store_id = :store AND p.slot_at >= :t0 AND p.slot_at < :t1
        ORDER BY 3, 1"""), {"store": store_id, "t0": t0, "t1": t1}).all()[:LIST_LIMIT]]
    return Table("groups", "门店各群今日发送", [
        ("name", "群"), ("slot_local", "时间"), ("sop", "SOP"), ("status", "群结果"),
        ("send_status", "发送状态"), ("error", "企业微信返回")], rows)


def group_sends(conn: Connection, chat_id: str, t0: float, t1: float) -> Table:
    rows = [dict(zip(("slot_local", "sop", "status", "send_id", "via", "send_status",
                      "attempts", "error", "msgid"), r, strict=True)) for r in conn.execute(sql("""
        SELECT s.slot_local, s.sop, d.status, d.send_id, d.via, coalesce(o.status, ''),
               coalesce(o.attempts, 0), coalesce(o.error, ''), coalesce(o.msgid, '')
        FROM outbox_delivery d JOIN sop_slot s ON s.id = d.slot_id
        LEFT JOIN outbox_send o ON o.id = d.send_id
        WHERE d.chat_id = :chat AND d.slot_at >= :t0 AND d.slot_at < :t1
        ORDER BY s.slot_at"""), {"chat": chat_id, "t0": t0, "t1": t1})]
    return Table("sends", "今日发到本群的消息", [
        ("slot_local", "时间"), ("sop", "SOP"), ("via", "方式"), ("status", "群结果"),
        ("send_status", "发送状态"), ("attempts", "尝试次数"), ("error", "企业微信返回"),
        ("msgid", "msgid")], rows)


# -- groups -----------------------------------------------------------------------------

GROUP_DAY_COLUMNS = [("day", "日期"), ("members", "群人数"), ("joins", "入群"),
                     ("leaves", "退群"), ("removals", "移出"), ("rejoins", "回流"),
                     ("owner_posts", "群主代发"), ("sent", "群发送达"), ("failed", "群发失败")]


def group_days(conn: Connection, key: str, first: date, last: date, title: str) -> Table:
    """Days of one group (key = chat_id), one store (``*<store>``) or the chain (``*``)."""
    names = [c for c, _ in GROUP_DAY_COLUMNS]
    rows = [dict(zip(names, r, strict=True)) for r in conn.execute(sql(f"""
        SELECT {', '.join(names)} FROM console_group_day
        WHERE chat_id = :key AND day >= :first AND day <= :last ORDER BY day"""),  # noqa: S608 (constant names; values bound)
        {"key": key, "first": first.isoformat(), "last": last.isoformat()})]
    return Table("days", title, GROUP_DAY_COLUMNS, rows,
                 chart={"type": "line", "x": "day", "series": ["members", "joins", "leaves",
                                                               "removals", "rejoins"]})


def health_counts(conn: Connection, scope: frozenset[str] | None,
                  labels: dict[str, str]) -> Table:
    where, params = _in_scope("store_id", scope)
    rows = [{"health": h, "label": labels.get(h, h), "groups": int(n)} for h, n in _run(
        conn, f"""SELECT health, count(*) FROM console_group_health WHERE 1 = 1{where}
                  GROUP BY health ORDER BY health""", params)]  # noqa: S608 (constant names; values bound)
    return Table("classes", "群分类", [("label", "分类"), ("groups", "群数")], rows,
                 chart={"type": "pie", "x": "label", "series": ["groups"]})


def health_list(conn: Connection, scope: frozenset[str] | None, health: str | None,
                labels: dict[str, str], keep: Sequence[str]) -> Table:
    where, params = _in_scope("store_id", scope)
    if health:
        where, params = where + " AND health = :health", {**params, "health": health}
    else:  # the list to act on: everything but the classes that need nothing
        where += "".join(f" AND health <> :k{i}" for i in range(len(keep)))
        params |= {f"k{i}": k for i, k in enumerate(keep)}
    columns = ("chat_id", "name", "store_id", "owner", "health", "reason", "members", "joins",
               "leaves", "removals", "owner_posts", "as_of")
    rows = [dict(zip(columns, r, strict=True)) for r in _run(conn, f"""
        SELECT {', '.join(columns)} FROM console_group_health WHERE 1 = 1{where}
        ORDER BY health, store_id, chat_id LIMIT {LIST_LIMIT}""", params)]  # noqa: S608 (constant names; values bound)
    for row in rows:
        row["label"] = labels.get(row["health"], row["health"])
    return Table("act", "要处理的群" if not health else f"{labels.get(health, health)}列表", [
        ("name", "群"), ("store_id", "门店号"), ("label", "分类"), ("reason", "依据"),
        ("members", "群人数"), ("joins", "入群"), ("leaves", "退群"), ("removals", "移出"),
        ("owner_posts", "群主代发")], rows)


WECOM_COLUMNS = [("day", "日期"), ("chat_total", "群总数"), ("chat_has_msg", "有消息的群"),
                 ("new_member_cnt", "新增人数"), ("member_total", "群总人数"),
                 ("member_has_msg", "发言人数"), ("msg_total", "消息数")]


def owner_figures(conn: Connection, owner: str, first: date, last: date) -> Table:
    names = [c for c, _ in WECOM_COLUMNS]
    rows = [dict(zip(names, r, strict=True)) for r in conn.execute(sql(f"""
        SELECT {', '.join(names)} FROM wecom_owner_day
        WHERE owner = :owner AND day >= :first AND day <= :last ORDER BY day"""),  # noqa: S608 (constant names; values bound)
        {"owner": owner, "first": first.isoformat(), "last": last.isoformat()})]
    return Table("wecom", f"企业微信统计：群主 {owner} 名下所有群（按群主按天，不是本群）",
                 WECOM_COLUMNS, rows,
                 chart={"type": "line", "x": "day", "series": ["msg_total", "member_has_msg"]},
                 note="企业微信的客户群统计只按群主、按天给出，没有单个群的数字。")


# -- channels ---------------------------------------------------------------------------

FUNNEL = [("scans", "扫码添加"), ("welcomed", "已欢迎"), ("tagged", "已打标签"),
          ("joined", "已入群"), ("stayed_7", "7天仍在"), ("stayed_30", "30天仍在")]


def channel_funnel(conn: Connection, store: str, first: date, last: date) -> Table:
    """Per channel over the period, for one store or the chain (store ``*``). The 7/30-day
    columns count only cohorts old enough to know (their base is in matured_7/30)."""
    rows = []
    for r in conn.execute(sql("""
            SELECT channel, sum(scans), sum(welcomed), sum(tagged), sum(joined),
                   sum(stayed_7), sum(CASE WHEN stayed_7 IS NULL THEN 0 ELSE scans END),
                   sum(stayed_30), sum(CASE WHEN stayed_30 IS NULL THEN 0 ELSE scans END)
            FROM console_channel_day WHERE store_id = :store AND day >= :first AND day <= :last
            GROUP BY channel ORDER BY sum(scans) DESC"""),
            {"store": store, "first": first.isoformat(), "last": last.isoformat()}):
        rows.append({"channel": r[0], "scans": int(r[1]), "welcomed": int(r[2]),
                     "tagged": int(r[3]), "joined": int(r[4]), "stayed_7": int(r[5] or 0),
                     "matured_7": int(r[6] or 0), "stayed_30": int(r[7] or 0),
                     "matured_30": int(r[8] or 0)})
    return Table("funnel", "渠道漏斗", [("channel", "渠道"), *FUNNEL,
                                       ("matured_7", "满7天的添加"),
                                       ("matured_30", "满30天的添加")], rows,
                 chart={"type": "funnel", "x": "channel", "series": [c for c, _ in FUNNEL]},
                 note="「扫码添加」是带该渠道 state 的添加好友事件："
                      "企业微信不报告没有加好友的扫码。7天/30天留存只计已满7天/30天的添加。")
