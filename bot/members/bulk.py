# ruff: noqa: S608  (SQL from constants; every value is a bound parameter or COPY data)
"""The CSV import's hot path: a till export's rows checked cheaply and written in bulk.

Checking: one precompiled pattern over a row's key fields accepts the plain row (order id
and codes of letters and digits, an amount such as 68.50, epoch seconds) with a few string
operations; anything else (ISO times, padded cells, a phone number to hash, a mistake)
goes through `bot.members.purchases.parse_fields`, the one reader of the webhook too, which
either accepts it or names the field. The fast path accepts nothing parse_fields would
refuse and reads it the same way.

Writing a chunk (one transaction):
- SQLite: executemany of prepared tuples (the driver's own loop, no per-row Python).
- PostgreSQL: COPY into a temporary staging table (psycopg's `cursor.copy()`), then one
  `INSERT ... SELECT ... ON CONFLICT (order_id) DO NOTHING`, and the members it names set
  based from the stage as well.
Either way the order id is the key: a file imported again adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from bot.members.compute import TOUCHED
from bot.members.purchases import (
    MAX_FEN,
    MEMBER_BARE_SQL,
    MEMBER_KNOWN_SQL,
    PURCHASE_SQL,
    PhoneHasher,
    executemany,
    parse_fields,
)

__all__ = ["Chunk", "RowReader", "write_chunk"]

# order_id, member_code, store_id, amount (whole, cents), at (epoch seconds), joined by \x1f
_PLAIN = re.compile(r"[0-9A-Za-z_.:/-]{1,64}\x1f[0-9A-Za-z_-]{1,32}\x1f[0-9A-Za-z_-]{0,16}"
                    r"\x1f([0-9]{1,10})(?:\.([0-9]{1,2}))?\x1f([0-9]{9,10})")
_EARLIEST = 946_684_800  # 2000-01-01, as parse_fields
Row = tuple[str, str, str, int, float, str]  # purchase: order_id .. items
_STAGE = "purchase_stage"
_COLUMNS = "order_id, member_code, store_id, amount_fen, at, items"
_PURCHASE_TYPES = ["text", "text", "text", "int8", "float8", "text"]
_MEMBER_STAGE = "member_stage"
_STAGES = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE purchase) ON COMMIT "
           f"DELETE ROWS; CREATE TEMPORARY TABLE IF NOT EXISTS {_MEMBER_STAGE} (member_code "
           "VARCHAR(32), unionid VARCHAR(64), phone_hash VARCHAR(64)) ON COMMIT DELETE ROWS")
_KNOWN_FROM_STAGE = (  # MEMBER_KNOWN_SQL, for every member in the member stage
    "INSERT INTO loyalty_member (member_code, unionid, phone_hash, total_fen, purchases, "
    "growth, level, stage, level_tag, stage_tag, level_tag_synced, stage_tag_synced, "
    "tag_dirty, sync_attempts) SELECT member_code, unionid, phone_hash, 0, 0, 0, '', '', "
    f"'', '', '', '', 0, 0 FROM {_MEMBER_STAGE} ON CONFLICT (member_code) DO UPDATE SET "
    "unionid = COALESCE(excluded.unionid, loyalty_member.unionid), "
    "phone_hash = COALESCE(excluded.phone_hash, loyalty_member.phone_hash)")
_BARE_FROM_STAGE = (  # MEMBER_BARE_SQL, for every member code in the stage
    "INSERT INTO loyalty_member (member_code, total_fen, purchases, growth, level, stage, "
    "level_tag, stage_tag, level_tag_synced, stage_tag_synced, tag_dirty, sync_attempts) "
    f"SELECT DISTINCT member_code, 0, 0, 0, '', '', '', '', '', '', 0, 0 FROM {_STAGE} "
    "ON CONFLICT (member_code) DO NOTHING")


@dataclass
class Chunk:
    """Purchases ready for the driver, and what the rows said about their members."""

    purchases: list[Row] = field(default_factory=list)
    known: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)

    def know(self, code: str, unionid: str | None, phone_hash: str | None) -> None:
        """A member's unionid and phone hash; what one row leaves out, another may say."""
        if (old := self.known.get(code)) is not None:
            unionid, phone_hash = unionid or old[1], phone_hash or old[2]
        self.known[code] = (code, unionid, phone_hash)


class RowReader:
    """Turns a CSV row's cells (in parse_fields' order) into the chunk being filled."""

    def __init__(self, now: float, hasher: PhoneHasher) -> None:
        self.now, self.hasher, self.latest = now, hasher, now + 86_400

    def add(self, cells: tuple[str, ...], chunk: Chunk) -> None:
        """Add one row to `chunk`; raises `BadPurchase` (naming the field) for a bad one."""
        order_id, member_code, store_id, _amount, _at, unionid, phone, items = cells
        plain = _PLAIN.fullmatch("\x1f".join(cells[:5]))
        if plain is not None and not phone and len(unionid) <= 64 and (
                not unionid or unionid.strip() == unionid):
            whole, cents, epoch = plain.groups()
            fen = int(whole) * 100 + (0 if cents is None else
                                      int(cents) * (10 if len(cents) == 1 else 1))
            seconds = float(epoch)
            if 0 < fen <= MAX_FEN and _EARLIEST <= seconds <= self.latest:
                chunk.purchases.append((order_id, member_code, store_id, fen, seconds, items))
                if unionid:
                    chunk.know(member_code, unionid, None)
                return
        row = parse_fields(order_id, member_code, store_id, _amount, _at, unionid, phone,
                           items, self.now, self.hasher)  # the exact check, or BadPurchase
        chunk.purchases.append((row.order_id, row.member_code, row.store_id, row.amount_fen,
                                row.at, row.items))
        if row.unionid or row.phone_hash:
            chunk.know(row.member_code, row.unionid, row.phone_hash)


def write_chunk(conn: Connection, chunk: Chunk, *, bare_members: bool) -> int:
    """Write one chunk in the caller's transaction; returns how many purchases were new.

    `bare_members`: also make the members the rows say nothing about and note every member
    touched in the temporary table `TOUCHED` (a day's export; a backfill leaves both to
    the recompute of everyone at the end)."""
    if not chunk.purchases:
        return 0
    if conn.dialect.name == "postgresql":
        return _write_postgres(conn, chunk, bare_members)
    new = max(executemany(conn, PURCHASE_SQL, chunk.purchases), 0)
    if bare_members:
        codes = {row[1] for row in chunk.purchases}
        executemany(conn, MEMBER_BARE_SQL, [(c,) for c in codes - chunk.known.keys()])
        executemany(conn, f"INSERT INTO {TOUCHED} (member_code) VALUES (?) "
                          "ON CONFLICT (member_code) DO NOTHING", [(c,) for c in codes])
    if chunk.known:
        executemany(conn, MEMBER_KNOWN_SQL, list(chunk.known.values()))
    return new


def _copy(cur: Any, table: str, columns: str, types: list[str],
          rows: Iterable[tuple[object, ...]]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)  # binary: a third of text COPY's work (measured)
        for row in rows:
            copy.write_row(row)


def _write_postgres(conn: Connection, chunk: Chunk, bare_members: bool) -> int:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(_STAGES)
        _copy(cur, _STAGE, _COLUMNS, _PURCHASE_TYPES, chunk.purchases)
        cur.execute(f"INSERT INTO purchase ({_COLUMNS}) SELECT {_COLUMNS} FROM {_STAGE} "
                    "ON CONFLICT (order_id) DO NOTHING")
        new = max(cur.rowcount, 0)
        if bare_members:
            cur.execute(_BARE_FROM_STAGE)
            cur.execute(f"INSERT INTO {TOUCHED} (member_code) SELECT DISTINCT "
                        f"member_code FROM {_STAGE} ON CONFLICT (member_code) DO NOTHING")
        if chunk.known:
            _copy(cur, _MEMBER_STAGE, "member_code, unionid, phone_hash", ["text"] * 3,
                  chunk.known.values())
            cur.execute(_KNOWN_FROM_STAGE)
    return new
