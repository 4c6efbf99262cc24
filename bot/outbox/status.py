"""Every status the outbox stores, and which moves a send may make: the state machine in one place.

The values are the strings in the database (outbox_send.status, outbox_delivery.status,
sop_slot.status, owner_post.status) and in ``sop report``, so they never change spelling.
A send moves queued → sending → created → done (群发) or queued → sending → done (robot, app
message); `SEND_MOVES` lists every move the worker may make, and `check_move` is called
wherever the worker moves a row, so a move that is not in the table fails loudly instead of
leaving a row in a state nothing picks up again.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class SendStatus(StrEnum):
    """outbox_send.status: where one WeCom call is."""

    QUEUED = "queued"  # due at next_at; nothing sent yet (or safe to send again)
    SENDING = "sending"  # committed before the call: it may have reached WeCom
    CREATED = "created"  # a 群发 task exists: followed until the owner sends it
    UNKNOWN = "unknown"  # no answer to a 群发: look it up before any retry
    DONE = "done"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # may or may not have gone out; never repeated


class DeliveryStatus(StrEnum):
    """outbox_delivery.status: what one group (or customer) got from one slot."""

    QUEUED = "queued"
    HELD_QUOTA = "held_quota"  # its 群发 quota was used up: not sent
    SUBMITTED = "submitted"  # in a 群发 task WeCom accepted
    SENT = "sent"
    QUOTA_EXCEEDED = "quota_exceeded"
    FAILED = "failed"
    UNSENT = "unsent"  # the owner did not send it
    UNCERTAIN = "uncertain"
    CANCELLED = "cancelled"  # a journey step reserved, then not sent (the customer left)


class SlotStatus(StrEnum):
    """sop_slot.status: what became of one firing of an SOP."""

    PLANNED = "planned"
    EMPTY = "empty"  # nothing to send (no groups, or none rendered)
    MISSED = "missed"  # the bot was not running, and the grace period has passed


class PostStatus(StrEnum):
    """owner_post.status: a group's owner post."""

    DUE = "due"
    POSTED = "posted"


S = SendStatus
SEND_MOVES: dict[SendStatus, frozenset[SendStatus]] = {
    # claimed for a call; or failed without one (a robot key or the agentid unset)
    S.QUEUED: frozenset({S.SENDING, S.FAILED}),
    # the call's outcome; `sending` again when a survivor takes an orphan over
    S.SENDING: frozenset({S.SENDING, S.CREATED, S.QUEUED, S.UNKNOWN, S.DONE, S.FAILED,
                          S.UNCERTAIN}),
    # followed until the owner sent it, or gave up; a moment's job may end in an error
    S.CREATED: frozenset({S.DONE, S.FAILED}),
    S.UNKNOWN: frozenset({S.CREATED, S.QUEUED}),  # found at WeCom, or sent again
    S.DONE: frozenset(),
    # an operator's retry (bot/console): a final error means WeCom made nothing of the call,
    # so calling again cannot deliver twice
    S.FAILED: frozenset({S.QUEUED}),
    S.UNCERTAIN: frozenset(),
}
# statuses the worker picks up when next_at is due
ACTIVE = (S.QUEUED, S.CREATED, S.UNKNOWN)
# delivery statuses that use up a group's 群发 quota (or may still): counted before queuing
QUOTA_COUNTED = (DeliveryStatus.QUEUED, DeliveryStatus.SUBMITTED, DeliveryStatus.SENT,
                 DeliveryStatus.UNCERTAIN)
# delivery statuses a send's end may still change (the others are a group's own result)
OPEN_DELIVERIES = (DeliveryStatus.QUEUED, DeliveryStatus.SUBMITTED)
# WeCom's send_result status per group → our delivery status
RESULT_STATUS = {1: DeliveryStatus.SENT, 3: DeliveryStatus.QUOTA_EXCEEDED,
                 2: DeliveryStatus.FAILED, 0: DeliveryStatus.UNSENT}


class IllegalMove(RuntimeError):
    """A send was to move between two statuses the state machine does not connect."""


def check_move(current: str, to: SendStatus) -> SendStatus:
    """`to`, if a send in `current` may move there; else `IllegalMove`."""
    if to not in SEND_MOVES[SendStatus(current)]:
        raise IllegalMove(f"a send cannot move from {current} to {to}")
    return to


def sql_in(statuses: Iterable[StrEnum]) -> str:
    """The body of a SQL ``IN (...)`` for these statuses: constants generated from the enum,
    so a query and an index keep matching literal values."""
    return ", ".join(f"'{status.value}'" for status in statuses)
