"""Why a customer leaves a journey before its last step, in the words the preview prints.

Checked when the day is planned and again at each step's time, just before its 群发 is
written to the outbox: a customer who buys at 09:00 does not get the 10:00 coupon.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.journeys.facts import Customer
from bot.journeys.model import Journey


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    journey: str
    external_userid: str
    entry_day: str
    entered_at: float
    sender: str
    store_id: str | None


def stop_reason(journey: Journey, entry: EntryRow, customer: Customer) -> str | None:
    """The reason this customer leaves now, or None if they stay. ``gone`` reasons first:
    nothing can reach a customer who is no longer anyone's friend."""
    if customer.status != "active" or not customer.follows:
        return "gone: no longer a friend of any staff member"
    if entry.sender and entry.sender not in customer.follows and journey.stop.staff_deleted:
        return f"deleted the staff member {entry.sender}"
    for tag in journey.stop.tags:
        if customer.has_tag(tag):
            return f"got the tag {tag}"
    if journey.stop.purchase and customer.last_purchase is not None \
            and customer.last_purchase > entry.entered_at:
        return "bought"
    if journey.stop.left_groups and not customer.in_groups \
            and customer.last_left is not None \
            and customer.last_left >= int(entry.entered_at):  # WeCom: whole seconds
        return "left the store groups"
    return None


def sender_for(entry: EntryRow, customer: Customer) -> str:
    """The entry's staff member while the relation stands, else the customer's sender."""
    return entry.sender if entry.sender in customer.follows else customer.sender()
