"""Which customers the member-targeted SOPs will reach later today: their share of the
allowance, for journeys that rank below them in the operator's precedence.

An SOP slot already planned is in the outbox (its deliveries count as used); one still to
come is counted here, from the same selection the SOP planner will make at its slot.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Connection

from bot.outbox import rows as outbox
from bot.outbox.recipients import select_members
from bot.sop.book import SopBook
from bot.sop.model import MemberSelect


def member_sop_claims(conn: Connection, book: SopBook | None, day: date
                      ) -> dict[str, frozenset[str]]:
    """``sop:<name>`` -> customers its slots still to be planned on `day` reach."""
    if book is None:
        return {}
    claims: dict[str, frozenset[str]] = {}
    for sop in book.enabled():
        target = sop.target
        if not isinstance(target, MemberSelect):
            continue
        slots = [s.timestamp() for s in sop.schedule.slots_on(day)]
        if not slots:
            continue
        planned = outbox.recorded_slots(conn, sop.name, min(slots), max(slots))
        if all(s in planned for s in slots):
            continue
        reach = {store.id for store in book.stores_for(sop)}
        claims[f"sop:{sop.name}"] = frozenset(
            m.external_userid for m in select_members(conn, target, reach))
    return claims
