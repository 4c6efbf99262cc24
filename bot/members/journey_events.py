"""Purchases become journey events (bot.journeys): a customer's first purchase starts the
repurchase-coupon journey, any purchase stops the tracks that end on buying.

Written in the transaction that stores the purchases, so a purchase and its journey event
commit together or not at all; `record_member_event` keys purchases by order id, so a
replayed order records nothing twice. Only members linked to a WeCom customer (by unionid
or a bound member code) have a journey to be in.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from bot.db.engine import sql
from bot.journeys import record_member_event
from bot.members.purchases import PurchaseRow

_LINKED = sql("SELECT p.order_id, m.external_userid, "
              "(SELECT COUNT(*) FROM purchase q WHERE q.member_code = p.member_code) "
              "FROM purchase p JOIN loyalty_member m ON m.member_code = p.member_code "
              "WHERE p.order_id IN :orders AND m.external_userid IS NOT NULL "
              "AND m.external_userid <> ''").bindparams(bindparam("orders", expanding=True))


def record_purchase_events(conn: Connection, rows: Sequence[PurchaseRow]) -> int:
    """`purchase` for each of `rows` whose member is a WeCom customer, and `first_purchase`
    for a member whose only purchase it is; the events newly recorded."""
    if not rows:
        return 0
    by_order = {row.order_id: row for row in rows}
    recorded = 0
    for order_id, external_userid, purchases in conn.execute(
            _LINKED, {"orders": list(by_order)}).all():
        row = by_order[str(order_id)]
        amount = f"{row.amount_fen / 100:.2f}"
        recorded += record_member_event(conn, str(external_userid), "purchase", row.at,
                                        order_id=row.order_id, amount=amount,
                                        store_id=row.store_id)
        if int(purchases) == 1:
            recorded += record_member_event(conn, str(external_userid), "first_purchase",
                                            row.at, key=f"first_purchase|{external_userid}",
                                            order_id=row.order_id, amount=amount)
    return recorded
