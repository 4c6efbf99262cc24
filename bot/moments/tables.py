"""The moments' tables: one row per moment task (its job and moment id), one per staff member
who is to post it (posted or not, reminders sent).

The outbox row (`outbox_send`, via ``moment``) stays the exactly-once unit of the call;
these rows record what WeCom made of it: the ``jobid`` of ``add_moment_task``, the
``moment_id`` its job ended with, and each staff member's ``publish_status``.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel, UniqueConstraint


class MomentTask(SQLModel, table=True):
    """One add_moment_task of an outbox send: its job, then its moment."""

    __tablename__ = "moment_task"

    send_id: int = Field(primary_key=True)  # outbox_send.id
    jobid: str = Field(max_length=64)
    moment_id: str = Field(default="", max_length=128)
    errcode: int = 0  # the job's own result errcode (0: the moment was made)
    invalid_senders: str = "[]"  # JSON: userids WeCom could not use
    invalid_tags: str = "[]"  # JSON: tag ids WeCom could not use
    created_at: float
    result_at: float | None = None


class MomentStaff(SQLModel, table=True):
    """One staff member's part of a moment: due, posted, or not posted in time."""

    __tablename__ = "moment_staff"
    __table_args__ = (UniqueConstraint("send_id", "userid", name="uq_moment_staff"),)

    id: int | None = Field(default=None, primary_key=True)
    send_id: int = Field(index=True)
    userid: str = Field(max_length=64)
    status: str = Field(max_length=16)  # due | posted | unposted | invalid
    posted_seen_at: float | None = None  # when the bot first saw publish_status 1
    reminders: int = 0
    reminded_at: float | None = None
