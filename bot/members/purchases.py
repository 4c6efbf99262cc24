"""A purchase as the till sends it, checked field by field, and written in chunks.

One reader for both ways in (the signed webhook's JSON objects and a CSV export's rows),
so both accept the same fields and refuse the same mistakes with the same words:

    order_id      the till's order number: the key (a purchase sent twice counts once)
    member_code   the member's code (card number, mini-program member id)
    store_id      the store, as in sop/stores.yaml ("0012")
    amount        yuan, up to 2 decimals ("68.50"); refunds are not purchases
    at            ISO 8601 ("2026-12-01T18:30:00+08:00"; without an offset: Beijing time)
                  or epoch seconds
    unionid       optional: the member's WeChat unionid, how a member meets a customer
    phone         optional: kept only as a keyed hash (BOT_PHONE_HASH_KEY), never in clear
    items         optional: free text or JSON, kept as sent

Writing is plain executemany with ON CONFLICT (SQLite and PostgreSQL alike), straight on
the driver with positional rows: this is the import's hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Connection

from bot.i18n import t

__all__ = ["MAX_FEN", "MEMBER_BARE_SQL", "MEMBER_KNOWN_SQL", "PHONE_KEY_ENV", "PURCHASE_SQL",
           "BadPurchase", "PhoneHasher", "PurchaseRow", "executemany",
           "parse_fields", "parse_purchase", "write_purchases"]

PHONE_KEY_ENV = "BOT_PHONE_HASH_KEY"
BEIJING = timezone(timedelta(hours=8))
MAX_FEN = 10_000_000 * 100  # one order over ten million yuan is a typo
_CODE = re.compile(r"[0-9A-Za-z_-]{1,32}")
_PHONE = re.compile(r"\+?86[- ]?|[- ]")


class BadPurchase(ValueError):
    """A purchase with a field the bot cannot take; the message names the field."""


class PhoneHasher:
    """HMAC-SHA256 of the digits with a key from the environment: the same phone gives the
    same hash (a member can be found by it), and the hash says nothing without the key."""

    def __init__(self, key: str | None = None) -> None:
        key = key if key is not None else os.environ.get(PHONE_KEY_ENV, "")
        self._key = key.encode() if key else None

    def __call__(self, phone: str) -> str:
        digits = _PHONE.sub("", phone.strip())
        if not digits.isdigit() or len(digits) != 11:
            raise BadPurchase(t("purchase.phone"))
        if self._key is None:
            raise BadPurchase(t("purchase.phone_key", env=PHONE_KEY_ENV))
        return hmac.new(self._key, digits.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    order_id: str
    member_code: str
    store_id: str
    amount_fen: int
    at: float
    unionid: str | None
    phone_hash: str | None
    items: str


def _text(record: Mapping[str, object], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadPurchase(t("purchase.text", name=name))
    return str(value)


def _amount_fen(text: str) -> int:
    whole, dot, cents = text.partition(".")
    if not (whole.isascii() and whole.isdigit() and len(whole) <= 10 and len(cents) <= 2
            and (not dot or (cents.isascii() and cents.isdigit()))):
        raise BadPurchase(t("purchase.amount_format", found=repr(text[:20])))
    fen = int(whole) * 100 + (int(cents) * (10 if len(cents) == 1 else 1) if cents else 0)
    if fen <= 0 or fen > MAX_FEN:
        raise BadPurchase(t("purchase.amount_range", amount=text))
    return fen


def _time(text: str, now: float) -> float:
    if not text:
        raise BadPurchase(t("purchase.at_missing"))
    try:
        if text.isascii() and text.isdigit():
            at = float(text)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=BEIJING)
            at = moment.timestamp()
    except ValueError:
        raise BadPurchase(t("purchase.at_format", found=repr(text[:32]))) from None
    if not 946_684_800 <= at <= now + 86_400:  # 2000-01-01 .. tomorrow (a till's clock)
        raise BadPurchase(t("purchase.at_range"))
    return at


def parse_fields(order_id: str, member_code: str, store_id: str, amount: str, at: str,
                 unionid: str, phone: str, items: str, now: float,
                 hash_phone: PhoneHasher) -> PurchaseRow:
    """One purchase from its fields as text (a CSV row's cells); raises `BadPurchase`.

    The import's hot path: string methods and one precompiled pattern, no dict per row.
    """
    order_id, member_code = order_id.strip(), member_code.strip()
    if not order_id or len(order_id) > 64:
        raise BadPurchase(t("purchase.order_id"))
    if not _CODE.fullmatch(member_code):
        raise BadPurchase(t("purchase.member_code"))
    if len(store_id) > 16:
        raise BadPurchase(t("purchase.store_id"))
    if len(unionid) > 64:
        raise BadPurchase(t("purchase.unionid"))
    return PurchaseRow(order_id, member_code, store_id.strip(), _amount_fen(amount.strip()),
                       _time(at.strip(), now), unionid.strip() or None,
                       hash_phone(phone) if phone.strip() else None, items)


def parse_purchase(record: Mapping[str, object], now: float,
                   hash_phone: PhoneHasher) -> PurchaseRow:
    """One purchase from a JSON object (the webhook); raises `BadPurchase`."""
    amount, at = record.get("amount"), record.get("at")
    if isinstance(amount, bool) or not isinstance(amount, str | int | float):
        raise BadPurchase(t("purchase.amount_number"))
    if isinstance(at, bool) or not isinstance(at, str | int | float):
        raise BadPurchase(t("purchase.at_missing"))
    if isinstance(amount, float):
        amount = f"{amount:.2f}" if round(amount, 2) == amount else str(amount)
    items = record.get("items") or ""
    return parse_fields(
        _text(record, "order_id"), _text(record, "member_code"), _text(record, "store_id"),
        str(amount), str(int(at)) if isinstance(at, int | float) else at,
        _text(record, "unionid"), _text(record, "phone"),
        items if isinstance(items, str) else str(items), now, hash_phone)


MEMBER_BARE_SQL = ("INSERT INTO loyalty_member (member_code, total_fen, purchases, growth, level, "
                "stage, level_tag, stage_tag, level_tag_synced, stage_tag_synced, tag_dirty, "
                "sync_attempts) VALUES (?, 0, 0, 0, '', '', '', '', '', '', 0, 0) "
                "ON CONFLICT (member_code) DO NOTHING")
MEMBER_KNOWN_SQL = ("INSERT INTO loyalty_member (member_code, unionid, phone_hash, total_fen, "
                 "purchases, growth, level, stage, level_tag, stage_tag, level_tag_synced, "
                 "stage_tag_synced, tag_dirty, sync_attempts) VALUES (?, ?, ?, 0, 0, 0, '', "
                 "'', '', '', '', '', 0, 0) ON CONFLICT (member_code) DO UPDATE SET "
                 "unionid = COALESCE(excluded.unionid, loyalty_member.unionid), "
                 "phone_hash = COALESCE(excluded.phone_hash, loyalty_member.phone_hash)")
PURCHASE_SQL = ("INSERT INTO purchase (order_id, member_code, store_id, amount_fen, at, items) "
             "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING")


def executemany(conn: Connection, statement: str, rows: Sequence[tuple[object, ...]]) -> int:
    """`statement` (with ``?`` placeholders) for every row, on the driver's own cursor:
    sqlite3 takes ``?``, psycopg ``%s`` (it pipelines executemany). Rows changed."""
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "sqlite":
        return int(raw.executemany(statement, rows).rowcount)
    cursor = raw.cursor()
    cursor.executemany(statement.replace("?", "%s"), rows)
    return int(cursor.rowcount)


def write_purchases(conn: Connection, rows: Iterable[PurchaseRow], *,
                    bare_members: bool = True) -> tuple[int, set[str]]:
    """Insert new purchases (an order id already there is skipped) and their members;
    returns how many purchases were new and the member codes they belong to.

    `bare_members=False`: members the row says nothing about (no unionid, no phone) are
    left to the recompute of everyone that follows (bot.members.compute), for bulk loads.
    """
    bare: set[str] = set()
    known: dict[str, tuple[str, str | None, str | None]] = {}
    purchases = []
    for row in rows:
        if row.unionid or row.phone_hash:
            old = known.get(row.member_code, (row.member_code, None, None))
            known[row.member_code] = (row.member_code, row.unionid or old[1],
                                      row.phone_hash or old[2])
        else:
            bare.add(row.member_code)
        purchases.append((row.order_id, row.member_code, row.store_id, row.amount_fen,
                          row.at, row.items))
    if not purchases:
        return 0, set()
    codes = bare | known.keys()
    bare -= known.keys()
    if bare and bare_members:
        executemany(conn, MEMBER_BARE_SQL, [(code,) for code in bare])
    if known:
        executemany(conn, MEMBER_KNOWN_SQL, list(known.values()))
    return max(executemany(conn, PURCHASE_SQL, purchases), 0), codes
