"""The member data: loyalty members (会员), their purchases, and the POS requests seen.

A loyalty member is the till's member (a member code on the card or in the mini-program);
`member` (bot.db.tables) is a WeCom customer. `loyalty_member.external_userid` links the
two once known (by unionid, or by the member code the customer binds). Amounts are fen
(integers: no rounding drift), times are epoch seconds like every table here.

Each member row carries what the tag sync needs: the level and stage tags wanted
(`level_tag`, `stage_tag`, written by the recompute) and the ones last applied in WeCom
(`*_synced`); `tag_dirty` marks the rows that differ, `sync_claimed_by` the replica
calling mark_tag for it (bot.db.claims), so a sync cut by a crash resumes where it was.
Imported by bot/db/tables.py so that Alembic and the tests see one metadata.
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class LoyaltyMember(SQLModel, table=True):
    __tablename__ = "loyalty_member"
    __table_args__ = (
        Index("ix_loyalty_member_unionid", "unionid"),
        Index("ix_loyalty_member_external_userid", "external_userid"),
        Index("ix_loyalty_member_tag_dirty", "tag_dirty"),
    )

    member_code: str = Field(primary_key=True, max_length=32)
    unionid: str | None = Field(default=None, max_length=64)
    phone_hash: str | None = Field(default=None, max_length=64)  # HMAC-SHA256, never clear
    external_userid: str | None = Field(default=None, max_length=64)
    total_fen: int = 0
    purchases: int = 0
    first_at: float | None = None
    last_at: float | None = None
    growth: int = 0
    level: str = Field(default="", max_length=16)
    stage: str = Field(default="", max_length=16)
    level_tag: str = Field(default="", max_length=64)
    stage_tag: str = Field(default="", max_length=64)
    level_tag_synced: str = Field(default="", max_length=64)
    stage_tag_synced: str = Field(default="", max_length=64)
    tag_dirty: int = 0  # 1: the wanted tags differ from those applied in WeCom
    sync_claimed_by: str | None = Field(default=None, max_length=96)
    sync_attempts: int = 0
    sync_error: str | None = None


PURCHASE_INDEX = "ix_purchase_member_at"  # a bulk import drops and rebuilds it (importer)


class Purchase(SQLModel, table=True):
    """One till order; `order_id` is the key, so a file or a webhook sent twice adds
    nothing the second time."""

    __tablename__ = "purchase"
    __table_args__ = (Index(PURCHASE_INDEX, "member_code", "at", "amount_fen"),)

    order_id: str = Field(primary_key=True, max_length=64)
    member_code: str = Field(max_length=32)
    store_id: str = Field(default="", max_length=16)
    amount_fen: int
    at: float
    items: str = ""  # JSON list as the POS sent it, optional


class PosRequest(SQLModel, table=True):
    """Request ids of signed POS calls accepted, kept past the timestamp window: a replay
    of a captured request is refused."""

    __tablename__ = "pos_request"

    request_id: str = Field(primary_key=True, max_length=64)
    at: float = Field(index=True)


class CustomerUnionid(SQLModel, table=True):
    """The unionid externalcontact/get gave for a customer: how a till member is matched."""

    __tablename__ = "customer_unionid"

    unionid: str = Field(primary_key=True, max_length=64)
    external_userid: str = Field(max_length=64, index=True)


class QuestionnaireAnswer(SQLModel, table=True):
    """A customer's latest answer to one form: the codes (JSON {question id: [codes]}) and
    whether WeCom has them yet (tags marked, description written)."""

    __tablename__ = "questionnaire_answer"

    form: str = Field(primary_key=True, max_length=32)
    external_userid: str = Field(primary_key=True, max_length=64)
    userid: str = Field(max_length=64)
    codes: str
    answered_at: float
    applied_at: float | None = None
    corrected_by: str | None = Field(default=None, max_length=64)  # staff, from the sidebar
