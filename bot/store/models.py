"""Tables. Times are UTC epoch seconds (float): cheap to compare, the same on SQLite and PG.

The event inbox is the spine: every accepted callback is a row before WeCom gets its 200,
and every effect a handler has is written together with that row's status, so a crash
between "acknowledged" and "acted" is repaired by replaying pending rows at start.
"""

from __future__ import annotations

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

    chat_id: str = Field(primary_key=True, max_length=64)
    member_id: str = Field(primary_key=True, max_length=64)  # userid or external_userid
    member_type: int = 2  # 1 staff, 2 external customer (groupchat/get `type`)
    joined_at: float
    join_scene: str = ""  # invite|link|qr


class GroupMemberLog(SQLModel, table=True):
    """Append-only join/leave history; a re-join is a new row, never an update."""

    __tablename__ = "group_member_log"
    __table_args__ = (UniqueConstraint("event_id", "member_id", name="uq_log_event_member"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int  # the inbox event that recorded it: a replay cannot log it twice
    chat_id: str = Field(max_length=64, index=True)
    member_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=8)  # join|leave
    how: str = Field(max_length=16)  # invite|link|qr for joins; left|removed for leaves
    at: float
    invitor: str = ""


class Welcome(SQLModel, table=True):
    """What happened to the welcome of one add_external_contact event."""

    __tablename__ = "welcome"

    event_id: int = Field(primary_key=True)
    external_userid: str = Field(max_length=64, index=True)
    userid: str = Field(max_length=64)
    channel: str = Field(max_length=64)
    status: str = Field(max_length=16)  # sent|no_code|expired|already_sent|failed
    attempts: int = 0
    latency_ms: float | None = None  # receipt of the callback to WeCom's answer
    text: str = ""
    error: str | None = None
    at: float
