"""The journeys' tables: member facts, each customer's place in a journey, each step's fate.

`journey_step` is the exactly-once unit: one row per (entry, step id), written before
anything is sent and moved on only by guarded updates (planned → queued, or skipped with
its reason), so a restart, a kill -9 or a second replica cannot send a step twice. Steps
are keyed by the step's id, not its position: an operator may insert a step and customers
in the middle keep their place.
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel, UniqueConstraint


class MemberEvent(SQLModel, table=True):
    """A member fact from the member data (purchase, first purchase, level, stage)."""

    __tablename__ = "member_event"
    __table_args__ = (Index("ix_member_event_event_at", "event", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=160)
    external_userid: str = Field(max_length=64, index=True)
    event: str = Field(max_length=32)
    at: float
    attrs: str = "{}"  # JSON


class JourneyEntry(SQLModel, table=True):
    """One customer's time in one journey, from entry to its end."""

    __tablename__ = "journey_entry"
    __table_args__ = (
        UniqueConstraint("journey", "external_userid", "entry_day", name="uq_journey_entry"),
        Index("ix_journey_entry_due", "journey", "status", "entry_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    journey: str = Field(max_length=64)
    external_userid: str = Field(max_length=64, index=True)
    entry_day: str = Field(max_length=10)  # local date of entry, YYYY-MM-DD
    entered_at: float
    event: str = Field(max_length=32)
    sender: str = Field(default="", max_length=64)  # the staff member who sends to them
    store_id: str | None = Field(default=None, max_length=16)
    status: str = Field(default="active", max_length=16)  # active | finished | stopped
    reason: str = ""
    ended_at: float | None = None


class JourneyStep(SQLModel, table=True):
    """What became of one step for one customer: exactly one row per (entry, step)."""

    __tablename__ = "journey_step"
    __table_args__ = (
        UniqueConstraint("entry_id", "step", name="uq_journey_step"),
        Index("ix_journey_step_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int
    journey: str = Field(max_length=64)
    step: str = Field(max_length=48)
    external_userid: str = Field(max_length=64)
    due_day: str = Field(max_length=10)  # the local day it is (or was last) planned for
    due_at: float
    # planned | postponed | queued (in the outbox) | task (staff task) | skipped
    status: str = Field(max_length=16)
    reason: str = ""  # skipped: stopped | allowance | gone | missed | render
    slot_id: int | None = None  # the outbox slot (sop_slot) it went out in
    updated_at: float


class JourneyTask(SQLModel, table=True):
    """A ``via: staff_task`` step for one customer: the staff member sends it from the chat
    sidebar. ``due`` until sent (``sent``, once: a guarded update) or, when its day ended
    unsent, ``missed``. One row per `JourneyStep` row, written when the step is handed over."""

    __tablename__ = "journey_task"
    __table_args__ = (
        Index("ix_journey_task_chat", "sender", "external_userid", "status"),
        Index("ix_journey_task_day", "status", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    step_row: int = Field(unique=True)  # journey_step.id
    journey: str = Field(max_length=64)
    step: str = Field(max_length=48)
    external_userid: str = Field(max_length=64)
    sender: str = Field(max_length=64)  # the staff member whose chat sidebar shows it
    day: str = Field(max_length=10)  # the local day it is due
    title: str = Field(default="", max_length=128)  # the journey's title and the step's day
    text: str = ""
    attachments: str = "[]"  # JSON, as the step rendered them
    status: str = Field(default="due", max_length=16)  # due | sent | missed
    sent_at: float | None = None
    updated_at: float
