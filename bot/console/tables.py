"""The console's daily rollups: one row per day and group, per day, store and channel, and
WeCom's own group figures per day and owner.

Why rollups: a page over 90 days of 25,000 groups must answer in well under 200 ms, which
no scan of `group_member_log` or `welcome` can. `bot.console.rollup` rebuilds a day's rows
whole (delete + insert, in one transaction), so a rebuild is idempotent and a late event is
picked up by the next run. `day` is the chain's local date as text (``2026-12-03``).
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class ConsoleGroupDay(SQLModel, table=True):
    """What happened in one customer group on one day (members, moves, SOP sends)."""

    __tablename__ = "console_group_day"
    __table_args__ = (Index("ix_console_group_day_store_day", "store_id", "day"),
                      Index("ix_console_group_day_day", "day"))

    chat_id: str = Field(primary_key=True, max_length=64)
    day: str = Field(primary_key=True, max_length=10)
    store_id: str = Field(default="", max_length=16)
    owner: str = Field(default="", max_length=64)
    members: int = 0  # at the end of the day
    joins: int = 0
    leaves: int = 0  # left by themselves
    removals: int = 0  # removed by the owner or an admin
    rejoins: int = 0  # joins of someone who had left this group before
    top_inviter_joins: int = 0  # the most joins one inviter brought that day
    owner_posts: int = 0  # owner posts (sidebar) done that day
    owner_posts_due: int = 0
    sent: int = 0  # SOP deliveries of the day's slots, by outcome
    in_progress: int = 0  # queued or with the owner (submitted), or uncertain
    held: int = 0
    failed: int = 0
    unsent: int = 0


class ConsoleChannelDay(SQLModel, table=True):
    """The funnel of the customers who added a store's staff through one channel that day.

    stayed_7 / stayed_30 are None until the cohort is 7 / 30 days old."""

    __tablename__ = "console_channel_day"
    __table_args__ = (Index("ix_console_channel_day_day", "day"),
                      Index("ix_console_channel_day_store_day", "store_id", "day"))

    day: str = Field(primary_key=True, max_length=10)
    store_id: str = Field(primary_key=True, max_length=16)
    channel: str = Field(primary_key=True, max_length=64)
    scans: int = 0  # add_external_contact events with this channel's state
    welcomed: int = 0
    tagged: int = 0
    joined: int = 0  # joined any customer group afterwards
    stayed_7: int | None = None
    stayed_30: int | None = None


class WeComOwnerDay(SQLModel, table=True):
    """WeCom's groupchat/statistic figures for one group owner on one day. WeCom has no
    per-group figures: the finest grain is all of an owner's groups together."""

    __tablename__ = "wecom_owner_day"
    __table_args__ = (Index("ix_wecom_owner_day_day", "day"),)

    owner: str = Field(primary_key=True, max_length=64)
    day: str = Field(primary_key=True, max_length=10)
    new_chat_cnt: int = 0
    chat_total: int = 0
    chat_has_msg: int = 0
    new_member_cnt: int = 0
    member_total: int = 0
    member_has_msg: int = 0
    msg_total: int = 0
    fetched_at: float = 0.0


class ConsoleGroupHealth(SQLModel, table=True):
    """Each group's class under the operators' rules (sop/group_health.yaml), as of the last
    rollup, with the window's figures that decided it: the list of groups to act on."""

    __tablename__ = "console_group_health"
    __table_args__ = (Index("ix_console_group_health_store", "store_id", "health"),
                      Index("ix_console_group_health_health", "health"))

    chat_id: str = Field(primary_key=True, max_length=64)
    store_id: str = Field(default="", max_length=16)
    owner: str = Field(default="", max_length=64)
    name: str = ""
    health: str = Field(max_length=24)
    reason: str = ""
    members: int = 0
    joins: int = 0
    leaves: int = 0
    removals: int = 0
    owner_posts: int = 0
    as_of: str = Field(max_length=10)


class ConsoleMemberState(SQLModel, table=True):
    """The level and stage each loyalty member had at the console's last look, and their
    store (the store of their first purchase, 开卡门店): diffing `loyalty_member` against it
    is how the console sees moves, since the member data keeps no history of them."""

    __tablename__ = "console_member_state"

    member_code: str = Field(primary_key=True, max_length=32)
    store_id: str = Field(default="", max_length=16)
    level: str = Field(default="", max_length=16)
    stage: str = Field(default="", max_length=16)


class ConsoleMemberDay(SQLModel, table=True):
    """Members of one store (``*``: the chain) on one level or stage at the end of a day."""

    __tablename__ = "console_member_day"
    __table_args__ = (Index("ix_console_member_day_store_day", "store_id", "day"),)

    day: str = Field(primary_key=True, max_length=10)
    store_id: str = Field(primary_key=True, max_length=16)
    kind: str = Field(primary_key=True, max_length=8)  # level | stage
    name: str = Field(primary_key=True, max_length=16)
    members: int = 0


class ConsoleMemberMove(SQLModel, table=True):
    """Members seen moving from one level (stage) to another on a day; from ``''`` is a
    member seen for the first time."""

    __tablename__ = "console_member_move"
    __table_args__ = (Index("ix_console_member_move_store_day", "store_id", "day"),)

    day: str = Field(primary_key=True, max_length=10)
    store_id: str = Field(primary_key=True, max_length=16)
    kind: str = Field(primary_key=True, max_length=8)
    from_name: str = Field(primary_key=True, max_length=16)
    to_name: str = Field(primary_key=True, max_length=16)
    members: int = 0


class ConsoleAnswerDay(SQLModel, table=True):
    """Questionnaire answers given on a day (each customer's latest), per store and code."""

    __tablename__ = "console_answer_day"
    __table_args__ = (Index("ix_console_answer_day_store_day", "store_id", "day"),)

    day: str = Field(primary_key=True, max_length=10)
    store_id: str = Field(primary_key=True, max_length=16)
    form: str = Field(primary_key=True, max_length=32)
    question: str = Field(primary_key=True, max_length=32)
    code: str = Field(primary_key=True, max_length=8)
    answers: int = 0


class ConsoleJourneyDay(SQLModel, table=True):
    """The customers who entered a journey on a day (the cohort), per store (``*``: the
    chain): step ``*`` counts the entries (still in, finished, left by stop rule), each
    step what became of it for them (reached, waiting, sent, skipped by reason)."""

    __tablename__ = "console_journey_day"
    __table_args__ = (Index("ix_console_journey_day_store_day", "store_id", "day"),)

    day: str = Field(primary_key=True, max_length=10)
    journey: str = Field(primary_key=True, max_length=64)
    step: str = Field(primary_key=True, max_length=48)
    store_id: str = Field(primary_key=True, max_length=16)
    entered: int = 0
    active: int = 0
    finished: int = 0
    left_purchase: int = 0
    left_tag: int = 0
    left_groups: int = 0
    left_staff: int = 0
    left_gone: int = 0
    reached: int = 0
    waiting: int = 0  # planned or postponed
    sent: int = 0  # handed to the outbox (群发) or to staff (task)
    skipped_stopped: int = 0
    skipped_allowance: int = 0
    skipped_gone: int = 0
    skipped_other: int = 0  # missed (the bot was down that day), render
