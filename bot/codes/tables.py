"""The codes' tables: what the bot made in WeCom, and where each group join came from.

`wecom_code` is the record `codes sync` diffs against: one row per code (a 「联系我」 per
store and channel, a store's 「加入群聊」, a group welcome template), keyed by what it is
for, with WeCom's id, the state, the QR image URL and a hash of the spec it was made from.
A row is written *before* the create call (status ``creating``), so a sync killed between
WeCom's answer and our record leaves a trace the next run resolves (bot.codes.recover).

`group_join_state` is the join log's attribution: the state WeCom reports for a member who
joined through a join way (groupchat/get member_list[].state, filled in asynchronously),
and the store and channel it stands for.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel, UniqueConstraint


class WeComCode(SQLModel, table=True):
    __tablename__ = "wecom_code"

    key: str = Field(primary_key=True, max_length=96)  # contact:<state> | join:<store> | ...
    kind: str = Field(max_length=16)  # contact | join | group_welcome
    config_id: str = Field(default="", max_length=64)  # template_id for group_welcome
    state: str = Field(default="", max_length=32, index=True)
    qr_code: str = ""  # the QR image URL WeCom returned (contact and join ways)
    pic_url: str = ""  # join ways: that image uploaded with media/uploadimg (welcomes' pic_url)
    store_id: str | None = Field(default=None, max_length=16, index=True)
    store_name: str = ""
    channel: str = Field(default="", max_length=64)
    spec_hash: str = Field(default="", max_length=32)
    body: str = ""  # the JSON body it was made or last updated with (join codes follow it)
    notified_hash: str = Field(default="", max_length=32)  # group welcome: managers told
    status: str = Field(default="creating", max_length=16)  # creating | active
    created_at: float
    updated_at: float


class GroupJoinState(SQLModel, table=True):
    __tablename__ = "group_join_state"
    __table_args__ = (UniqueConstraint("chat_id", "member_id", "joined_at",
                                       name="uq_group_join_state"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=64, index=True)
    member_id: str = Field(max_length=64)
    joined_at: float
    state: str = Field(max_length=32)
    store_id: str | None = Field(default=None, max_length=16, index=True)
    channel: str = Field(default="", max_length=64)
    recorded_at: float
