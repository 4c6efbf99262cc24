"""Tables. Times are UTC epoch seconds (float): cheap to compare, the same on SQLite and PG.

The event inbox is the spine: every accepted callback is a row before WeCom gets its 200,
and every effect a handler has is written together with that row's status, so a crash
between "acknowledged" and "acted" is repaired by replaying pending rows at start.
"""

from __future__ import annotations

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel, UniqueConstraint


class InboxEvent(SQLModel, table=True):
    __tablename__ = "inbox_event"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=96)
    kind: str = Field(max_length=48, index=True)
    lane: str = Field(max_length=96)
    payload: str  # the callback's fields as JSON, enough to rebuild the typed event
    create_time: int  # WeCom's CreateTime
    received_at: float
    status: str = Field(default="pending", max_length=16, index=True)  # pending|done|failed
    attempts: int = 0
    handled_at: float | None = None
    error: str | None = None
    claimed_by: str | None = Field(default=None, max_length=96)  # the replica handling it


class Store(SQLModel, table=True):
    __tablename__ = "store"

    id: str = Field(primary_key=True, max_length=16)
    name: str
    city: str = ""
    manager_userid: str = Field(default="", max_length=64)


class Staff(SQLModel, table=True):
    __tablename__ = "staff"

    userid: str = Field(primary_key=True, max_length=64)
    name: str = ""
    store_id: str | None = Field(default=None, max_length=16)


class Member(SQLModel, table=True):
    """A customer (external contact). `status` sums up their relations with our staff."""

    __tablename__ = "member"
    # the journeys' stop rules: who is no longer active (0016_journey_indexes)
    __table_args__ = (Index("ix_member_not_active", "external_userid",
                            sqlite_where=text("status <> 'active'"),
                            postgresql_where=text("status <> 'active'")),)

    external_userid: str = Field(primary_key=True, max_length=64)
    name: str = ""
    store_id: str | None = Field(default=None, max_length=16, index=True)
    staff_userid: str = Field(default="", max_length=64)  # who they first added
    channel: str = Field(default="", max_length=64, index=True)
    state: str = Field(default="", max_length=64)  # the QR code's state, as WeCom sent it
    # active | deleted_by_customer | deleted_by_staff
    status: str = Field(default="active", max_length=24)
    first_seen: float
    last_seen: float


class MemberFollow(SQLModel, table=True):
    """One customer-staff relation: a customer may add several staff of the chain."""

    __tablename__ = "member_follow"
    __table_args__ = (Index("ix_member_follow_not_active", "external_userid",
                            sqlite_where=text("status <> 'active'"),
                            postgresql_where=text("status <> 'active'")),)

    external_userid: str = Field(primary_key=True, max_length=64)
    userid: str = Field(primary_key=True, max_length=64)
    state: str = Field(default="", max_length=64)
    status: str = Field(default="active", max_length=24)
    added_at: float
    removed_at: float | None = None


class Tag(SQLModel, table=True):
    """A corp tag (企业标签) as last read from get_corp_tag_list."""

    __tablename__ = "tag"

    id: str = Field(primary_key=True, max_length=64)
    name: str
    group_id: str = Field(max_length=64)
    group_name: str
    deleted: bool = False


class MemberTag(SQLModel, table=True):
    __tablename__ = "member_tag"
    __table_args__ = (Index("ix_member_tag_tag_id", "tag_id"),)  # who carries a tag (SOPs)

    external_userid: str = Field(primary_key=True, max_length=64)
    tag_id: str = Field(primary_key=True, max_length=64)
    added_at: float


class CustomerGroup(SQLModel, table=True):
    __tablename__ = "customer_group"

    chat_id: str = Field(primary_key=True, max_length=64)
    name: str = ""
    owner: str = Field(default="", max_length=64)
    store_id: str | None = Field(default=None, max_length=16, index=True)
    created_at: float | None = None
    dismissed_at: float | None = None
    member_version: str = ""


class GroupMember(SQLModel, table=True):
    """Who is in a group now. History lives in `GroupMemberLog`."""

    __tablename__ = "group_member"
    __table_args__ = (Index("ix_group_member_member_id", "member_id"),)

    chat_id: str = Field(primary_key=True, max_length=64)
    member_id: str = Field(primary_key=True, max_length=64)  # userid or external_userid
    member_type: int = 2  # 1 staff, 2 external customer (groupchat/get `type`)
    joined_at: float
    join_scene: str = ""  # invite|link|qr


class GroupMemberLog(SQLModel, table=True):
    """Append-only join/leave history; a re-join is a new row, never an update."""

    __tablename__ = "group_member_log"
    __table_args__ = (UniqueConstraint("event_id", "member_id", name="uq_log_event_member"),
                      Index("ix_group_member_log_action_at", "action", "at"))

    id: int | None = Field(default=None, primary_key=True)
    event_id: int  # the inbox event that recorded it: a replay cannot log it twice
    chat_id: str = Field(max_length=64, index=True)
    member_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=8)  # join|leave
    how: str = Field(max_length=16)  # invite|link|qr for joins; left|removed for leaves
    at: float
    invitor: str = ""


class Welcome(SQLModel, table=True):
    """What happened to the welcome of one add_external_contact (or msg_audit_approved)."""

    __tablename__ = "welcome"

    event_id: int = Field(primary_key=True)
    external_userid: str = Field(max_length=64, index=True)
    userid: str = Field(max_length=64)
    channel: str = Field(max_length=64)
    status: str = Field(max_length=16)  # sent|no_code|expired|already_sent|failed|welcomed_before
    attempts: int = 0
    latency_ms: float | None = None  # receipt of the callback to WeCom's answer
    text: str = ""
    error: str | None = None
    at: float


# -- SOP delivery (issue 3): slot -> sends (one API call each) -> deliveries (one per group) --


class SopSlot(SQLModel, table=True):
    """One firing of one SOP at one scheduled time; its existence makes planning idempotent."""

    __tablename__ = "sop_slot"
    __table_args__ = (UniqueConstraint("sop", "slot_at", name="uq_sop_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    sop: str = Field(max_length=64)
    slot_at: float  # the scheduled local time, as UTC epoch seconds
    slot_local: str = Field(max_length=32)  # "2026-11-24 08:30" in the SOP's timezone
    status: str = Field(max_length=16)  # planned | missed | empty
    fired_at: float
    late_s: float = 0.0  # how long after slot_at it was planned (misfire within grace)
    groups: int = 0  # deliveries queued
    held: int = 0  # deliveries held back by the group-send quota
    note: str = ""


class OutboxSend(SQLModel, table=True):
    """One call to WeCom to make: an add_msg_template per owner and store, or a robot post.

    `key` is the idempotency key: written before anything is sent, so a crash, a restart or
    a second scheduler firing can never make the same call twice.
    """

    __tablename__ = "outbox_send"
    __table_args__ = (Index("ix_outbox_send_status_next", "status", "next_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=192)
    slot_id: int = Field(index=True)
    via: str = Field(max_length=16)  # group_send | robot | owner_remind (app message)
    sender: str = Field(default="", max_length=64)  # group owner (group_send)
    robot: str = Field(default="", max_length=64)  # robot name (robot)
    store_id: str | None = Field(default=None, max_length=16)
    payload: str  # the request body as JSON
    # queued -> sending -> created (group_send, following the task) -> done
    #                   -> failed (final error) | uncertain (robot post whose answer was lost)
    status: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_at: float  # when the worker should look at it next
    created_at: float
    sent_at: float | None = None  # WeCom accepted the call
    msgid: str = Field(default="", max_length=64)
    reminders: int = 0
    error: str | None = None
    claimed_by: str | None = Field(default=None, max_length=96)  # the replica that sent it


def _one_per_slot_and_chat(unique: str, index: str) -> tuple[UniqueConstraint, Index]:
    """A table of a slot's groups: one row per (slot, group), read per group over time (the
    quota counts a chat's sends over a period; the sidebar lists a chat's posts of a day)."""
    return (UniqueConstraint("slot_id", "chat_id", name=unique),
            Index(index, "chat_id", "slot_at"))


class OutboxDelivery(SQLModel, table=True):
    """What one group got from one SOP slot: exactly one row per (slot, group)."""

    __tablename__ = "outbox_delivery"
    __table_args__ = _one_per_slot_and_chat("uq_delivery_slot_chat",
                                            "ix_outbox_delivery_chat_slot")

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int
    chat_id: str = Field(max_length=64)
    send_id: int | None = Field(default=None, index=True)
    via: str = Field(max_length=16)
    slot_at: float  # copied from the slot: the quota is counted per chat over a period
    # queued | submitted | sent | unsent | quota_exceeded | failed | held_quota | uncertain
    status: str = Field(max_length=16)
    updated_at: float


class OwnerPost(SQLModel, table=True):
    """One group's share of a ``via: owner_post`` slot: the message its owner is to post.

    Written with the slot (one transaction), so the sidebar lists exactly what was planned;
    ``due`` until the owner taps 「发到本群」, then ``posted`` (idempotent). The owner's
    reminder is an `OutboxSend` with via ``owner_remind``.
    """

    __tablename__ = "owner_post"
    __table_args__ = _one_per_slot_and_chat("uq_owner_post_slot_chat", "ix_owner_post_chat_slot")

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int
    sop: str = Field(max_length=64)
    slot_at: float
    slot_local: str = Field(max_length=32)
    chat_id: str = Field(max_length=64)
    owner: str = Field(max_length=64)  # the group's owner when the slot was planned
    store_id: str | None = Field(default=None, max_length=16)
    payload: str  # {"text": ..., "attachments": [...]} as rendered for the store, JSON
    status: str = Field(max_length=16)  # due | posted
    created_at: float
    posted_at: float | None = None
    posted_by: str | None = Field(default=None, max_length=64)


class BotState(SQLModel, table=True):
    """Small named values the bot keeps across restarts (e.g. how far the SOP clock got)."""

    __tablename__ = "bot_state"

    key: str = Field(primary_key=True, max_length=64)
    value: str


# -- customer service (issue 4): which 话术 staff sent, to learn the ranking order ----------


class ReplySend(SQLModel, table=True):
    """One canned reply sent (or copied) by a staff member to a customer."""

    __tablename__ = "reply_send"

    id: int | None = Field(default=None, primary_key=True)
    reply_id: str = Field(max_length=64, index=True)
    userid: str = Field(max_length=64)
    external_userid: str = Field(max_length=64)
    via: str = Field(max_length=16)  # sidebar (sendChatMessage) | clipboard
    at: float


# -- replicas (issue 5) ----------------------------------------------------------------


class BotReplica(SQLModel, table=True):
    """One bot process on a shared database, for operators and /readyz. Whether it is
    alive is not read from here: on PostgreSQL a replica is alive while its session holds
    its advisory lock (see bot.db.claims), which dies with the process."""

    __tablename__ = "bot_replica"

    id: str = Field(primary_key=True, max_length=96)
    host: str = Field(default="", max_length=128)
    started_at: float
    seen_at: float
    role: str = Field(default="follower", max_length=16)  # leader | follower


class ApiQuota(SQLModel, table=True):
    """Calls made per API in one fixed window, by the whole deployment (bot.wecom.shared)."""

    __tablename__ = "api_quota"

    api: str = Field(primary_key=True, max_length=96)
    window_s: int = Field(primary_key=True)
    window_start: int = Field(primary_key=True)
    used: int = 0


# -- uploaded images (bot/media/) ---------------------------------------------------------


class MediaUpload(SQLModel, table=True):
    """An image WeCom hosts for the bot, by the sha256 of its bytes: a permanent URL
    (`kind` pic_url, from media/uploadimg) or a 3-day media_id (kind media_id, from
    media/upload, `expires_at` set). One row per (content, kind): the same picture named in
    ten files is uploaded once."""

    __tablename__ = "media_upload"

    content_hash: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=16)  # pic_url | media_id
    value: str = Field(max_length=512)  # the URL or the media_id
    created_at: float
    expires_at: float | None = None


# Tables of the capability packages, on the same metadata (one schema for Alembic).
from bot.codes.tables import GroupJoinState, WeComCode  # noqa: E402
from bot.console.tables import (  # noqa: E402
    ConsoleAnswerDay,
    ConsoleChannelDay,
    ConsoleGroupDay,
    ConsoleGroupHealth,
    ConsoleJourneyDay,
    ConsoleMemberDay,
    ConsoleMemberMove,
    ConsoleMemberState,
    WeComOwnerDay,
)
from bot.journeys.tables import JourneyEntry, JourneyStep, JourneyTask, MemberEvent  # noqa: E402
from bot.members.tables import (  # noqa: E402
    CustomerUnionid,
    LoyaltyMember,
    PosRequest,
    Purchase,
    QuestionnaireAnswer,
)
from bot.moments.tables import MomentStaff, MomentTask  # noqa: E402

__all__ = ["ConsoleChannelDay", "ConsoleGroupDay", "ConsoleGroupHealth", "CustomerUnionid",
           "GroupJoinState", "JourneyEntry", "JourneyStep", "JourneyTask", "LoyaltyMember",
           "MemberEvent", "MomentStaff", "MomentTask", "PosRequest", "Purchase",
           "QuestionnaireAnswer", "WeComCode", "WeComOwnerDay"]
__all__ += ["ConsoleAnswerDay", "ConsoleJourneyDay", "ConsoleMemberDay", "ConsoleMemberMove",
            "ConsoleMemberState"]
