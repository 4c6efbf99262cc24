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
the driver (bot.db.engine.driver_execute): this is the import's hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Connection

from bot.db.engine import driver_execute

__all__ = ["PHONE_KEY_ENV", "BadPurchase", "PhoneHasher", "PurchaseRow", "parse_purchase",
           "write_purchases"]

PHONE_KEY_ENV = "BOT_PHONE_HASH_KEY"
BEIJING = timezone(timedelta(hours=8))
MAX_FEN = 10_000_000 * 100  # one order over ten million yuan is a typo
_AMOUNT = re.compile(r"\d{1,10}(\.\d{1,2})?")
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
            raise BadPurchase("phone: expected an 11-digit mainland mobile number")
        if self._key is None:
            raise BadPurchase(f"phone: given, but {PHONE_KEY_ENV} is not set, and phone "
                              "numbers are never stored in clear")
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


def _text(record: Mapping[str, object], name: str, required: bool = True) -> str:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise BadPurchase(f"{name}: missing")
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadPurchase(f"{name}: expected text")
    return str(value).strip()


def _amount_fen(value: object) -> int:
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if isinstance(value, bool) or not _AMOUNT.fullmatch(text):
        raise BadPurchase(f"amount: expected yuan such as 68.50, found {str(value)[:20]!r}")
    whole, _, cents = text.partition(".")
    fen = int(whole) * 100 + int((cents + "00")[:2])
    if fen <= 0 or fen > MAX_FEN:
        raise BadPurchase(f"amount: {text} is not a purchase amount (above 0, below "
                          "10,000,000 yuan)")
    return fen


def _time(value: object, now: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        at = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            at = float(text) if text.replace(".", "", 1).isdigit() else _iso(text)
        except ValueError:
            raise BadPurchase(f"at: expected a time such as 2026-12-01T18:30:00+08:00, "
                              f"found {text[:32]!r}") from None
    else:
        raise BadPurchase("at: missing")
    if not 946_684_800 <= at <= now + 86_400:  # 2000-01-01 .. tomorrow (a till's clock)
        raise BadPurchase("at: before 2000 or in the future")
    return at


def _iso(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BEIJING)
    return moment.timestamp()


def parse_purchase(record: Mapping[str, object], now: float,
                   hash_phone: PhoneHasher) -> PurchaseRow:
    """One purchase from a CSV row or a JSON object; raises `BadPurchase`."""
    order_id = _text(record, "order_id")
    if len(order_id) > 64:
        raise BadPurchase("order_id: longer than 64 characters")
    code = _text(record, "member_code")
    if not _CODE.fullmatch(code):
        raise BadPurchase("member_code: 1 to 32 letters, digits, - or _")
    store = _text(record, "store_id", required=False)
    if len(store) > 16:
        raise BadPurchase("store_id: longer than 16 characters")
    unionid = _text(record, "unionid", required=False) or None
    if unionid is not None and len(unionid) > 64:
        raise BadPurchase("unionid: longer than 64 characters")
    phone = _text(record, "phone", required=False)
    items = record.get("items") or ""
    return PurchaseRow(order_id, code, store, _amount_fen(record.get("amount")),
                       _time(record.get("at"), now), unionid,
                       hash_phone(phone) if phone else None,
                       items if isinstance(items, str) else str(items))


_MEMBER_BARE = ("INSERT INTO loyalty_member (member_code, total_fen, purchases, growth, level, "
                "stage, level_tag, stage_tag, level_tag_synced, stage_tag_synced, tag_dirty, "
                "sync_attempts) VALUES (:member_code, 0, 0, 0, '', '', '', '', '', '', 0, 0) "
                "ON CONFLICT (member_code) DO NOTHING")
_MEMBER_KNOWN = ("INSERT INTO loyalty_member (member_code, unionid, phone_hash, total_fen, "
                 "purchases, growth, level, stage, level_tag, stage_tag, level_tag_synced, "
                 "stage_tag_synced, tag_dirty, sync_attempts) VALUES (:member_code, :unionid, "
                 ":phone_hash, 0, 0, 0, '', '', '', '', '', '', 0, 0) "
                 "ON CONFLICT (member_code) DO UPDATE SET "
                 "unionid = COALESCE(excluded.unionid, loyalty_member.unionid), "
                 "phone_hash = COALESCE(excluded.phone_hash, loyalty_member.phone_hash)")
_PURCHASE = ("INSERT INTO purchase (order_id, member_code, store_id, amount_fen, at, items) "
             "VALUES (:order_id, :member_code, :store_id, :amount_fen, :at, :items) "
             "ON CONFLICT (order_id) DO NOTHING")


def write_purchases(conn: Connection, rows: Iterable[PurchaseRow]) -> tuple[int, set[str]]:
    """Insert new purchases (an order id already there is skipped) and their members;
    returns how many purchases were new and the member codes they belong to."""
    bare: dict[str, dict[str, object]] = {}
    known: dict[str, dict[str, object]] = {}
    purchases = []
    for row in rows:
        if row.unionid or row.phone_hash:
            known[row.member_code] = {"member_code": row.member_code, "unionid": row.unionid,
                                      "phone_hash": row.phone_hash}
        else:
            bare[row.member_code] = {"member_code": row.member_code}
        purchases.append({"order_id": row.order_id, "member_code": row.member_code,
                          "store_id": row.store_id, "amount_fen": row.amount_fen,
                          "at": row.at, "items": row.items})
    if not purchases:
        return 0, set()
    for code in known:
        bare.pop(code, None)
    if bare:
        driver_execute(conn, _MEMBER_BARE, list(bare.values()))
    if known:
        driver_execute(conn, _MEMBER_KNOWN, list(known.values()))
    new = driver_execute(conn, _PURCHASE, purchases).rowcount
    return max(int(new), 0), {p["member_code"] for p in purchases}  # type: ignore[misc]
