# ruff: noqa: S608  (SQL from constants and header positions; every value is bound or COPY data)
"""The CSV import's fast path: a block of plain rows checked and written set based.

A till export is read in blocks of whole lines (about 2 MB, 40,000 rows). One pattern,
built from the file's header, matches the plain row (order id and codes of letters and
digits, an amount such as 68.50 below ten million yuan, epoch seconds, no phone, no quotes):
if every line of the block matches, the block goes to a temporary table in one call with
no Python per row (sqlite3's executemany over the pattern's matches; PostgreSQL's COPY of
the block's text itself), and from there in one `INSERT ... SELECT ... ON CONFLICT
(order_id) DO NOTHING`, the amounts and times converted in SQL. The members it names are
set from the same table (the last unionid a member's rows give wins, as row by row).

A block with any other line (an ISO time, a quoted cell, a phone number to hash, a mistake)
or whose amounts or times fall out of range is left to the row-by-row reader
(bot.members.bulk), which reports each bad row with its line number: the fast path accepts
nothing `bot.members.purchases.parse_fields` would refuse and reads it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import TextIO

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.members.compute import TOUCHED

__all__ = ["BLOCK_CHARS", "PlainBlocks", "blocks"]
BLOCK_CHARS = 2 * 2**20  # about 40,000 rows: the matches of one block are ~20 MB of RSS
RAW = "purchase_raw"
_EARLIEST = 946_684_800  # 2000-01-01, as parse_fields
_CELL = {  # what a plain cell of each column is; any other column: no quote, comma or newline
    "order_id": "[0-9A-Za-z_.:/-]{1,64}",
    "member_code": "[0-9A-Za-z_-]{1,32}",
    "store_id": "[0-9A-Za-z_-]{0,16}",
    "amount": r"[0-9]{1,7}(?:\.[0-9]{1,2})?",  # below MAX_FEN (10^7 yuan) by its length
    "at": "[0-9]{9,10}",
    "unionid": "[0-9A-Za-z_-]{0,64}",
    "phone": "",  # a phone number is hashed: the row-by-row reader's work
}
_OTHER = '[^",\n\r]*'


def blocks(handle: TextIO, first_line: int) -> Iterator[tuple[int, str]]:
    """(number of its first line, text) of blocks of whole lines, a quoted cell's line
    breaks never cut (a block holds an even number of quotes); CRLF read as LF."""
    line = first_line
    while block := handle.read(BLOCK_CHARS):
        if not block.endswith("\n"):
            block += handle.readline()
        while block.count('"') % 2 and (more := handle.readline()):
            block += more
        block = block.replace("\r\n", "\n")
        yield line, block
        line += block.count("\n")


class _OutOfRange(Exception):
    pass


class PlainBlocks:
    """Writes blocks of plain rows of one file (its header) through the table `RAW`, a
    temporary table of the importing connection made by `open` and dropped by `close`."""

    def __init__(self, conn: Connection, header: Sequence[str], now: float) -> None:
        self.conn, self.width, self.now = conn, len(header), now
        self.postgres = conn.dialect.name == "postgresql"
        self.all_new = True  # the last block's order ids were all new (PostgreSQL: plain)
        self.pattern = re.compile("^" + ",".join(
            f"({_CELL.get(name, _OTHER)})" for name in header) + "$", re.MULTILINE)
        pos = {name: i for i, name in reversed(list(enumerate(header)))}  # the first
        self.col = {name: (f"COALESCE(c{pos[name]}, '')" if name in pos else "''")
                    for name in (*_CELL, "items")}
        amount = self.col["amount"]
        self.fen = (f"round(CAST({amount} AS numeric) * 100)" if self.postgres else
                    f"CAST(round(CAST({amount} AS REAL) * 100) AS INTEGER)")
        self.at = f"CAST({self.col['at']} AS {'float8' if self.postgres else 'REAL'})"
        self.unionid = pos.get("unionid")  # its cell in a match, if the file has the column

    def open(self) -> None:
        cells = ", ".join(f"c{i} TEXT" for i in range(self.width))
        # PostgreSQL: emptied by each commit (a truncate: a DELETE would leave every block's
        # rows dead in a table no autovacuum visits, and each block scan them all again)
        key, end = (("n bigserial", " ON COMMIT DELETE ROWS") if self.postgres else
                    ("n INTEGER PRIMARY KEY", ""))
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {RAW}")
        self.conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {RAW} ({key}, {cells}){end}")

    def close(self) -> None:
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {RAW}")

    def write(self, block: str, *, bare_members: bool) -> tuple[int, int] | None:
        """(rows, new purchases) of `block` written in the caller's transaction, or None
        (nothing written) when the block holds a row that is not plain."""
        rows = block.count("\n") + (not block.endswith("\n"))
        matches = self.pattern.findall(block)
        if len(matches) != rows or not rows:
            return None
        self._load(block, matches)
        new = self._purchases(rows)
        if new is not None:
            self._members(bare_members, self.unionid is not None and any(
                map(itemgetter(self.unionid), matches)))
        if not self.postgres:  # SQLite truncates a DELETE without WHERE
            self.conn.exec_driver_sql(f"DELETE FROM {RAW}")
        return None if new is None else (rows, new)

    def _load(self, block: str, matches: list[tuple[str, ...]]) -> None:
        columns = ", ".join(f"c{i}" for i in range(self.width))
        raw = self.conn.connection.driver_connection
        assert raw is not None
        if not self.postgres:
            marks = ", ".join("?" * self.width)
            raw.executemany(f"INSERT INTO {RAW} ({columns}) VALUES ({marks})", matches)
            return
        with raw.cursor() as cur, cur.copy(
                f"COPY {RAW} ({columns}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(block)

    def _purchases(self, rows: int) -> int | None:
        """The block's purchases written: how many were new, or None (nothing written) when
        an amount or a time is out of range. PostgreSQL: a plain INSERT first, under a
        savepoint (half the work of ON CONFLICT's speculative insertion of each row,
        measured), unless the block before had order ids seen before; a duplicate anywhere
        rolls it back to the careful statement."""
        c, run = self.col, self.conn.exec_driver_sql
        insert = (f"INSERT INTO purchase (order_id, member_code, store_id, amount_fen, at, "
                  f"items) SELECT {c['order_id']}, {c['member_code']}, {c['store_id']}, "
                  f"{self.fen}, {self.at}, {c['items']} FROM {RAW}")
        good = f"{self.fen} > 0 AND {self.at} BETWEEN {_EARLIEST} AND {self.now + 86_400}"
        if self.postgres and self.all_new:
            try:
                with self.conn.begin_nested():
                    if run(f"{insert} WHERE {good}").rowcount != rows:
                        raise _OutOfRange  # undone: the row-by-row reader names the row
                return rows
            except _OutOfRange:
                return None
            except IntegrityError:  # an order id seen before (or twice in the block)
                pass
        if run(f"SELECT count(*) FROM {RAW} WHERE NOT ({good})").scalar():
            return None
        new = max(int(run(f"{insert} ORDER BY n ON CONFLICT (order_id) DO NOTHING").rowcount),
                  0)
        self.all_new = new == rows
        return new

    def _members(self, bare_members: bool, unionids: bool) -> None:
        """The members the block names: made bare and noted as touched (a day's export),
        and given the last unionid their rows say (`unionids`: some row has one)."""
        c, run = self.col, self.conn.exec_driver_sql
        if bare_members:
            run("INSERT INTO loyalty_member (member_code, total_fen, purchases, growth, "
                "level, stage, level_tag, stage_tag, level_tag_synced, stage_tag_synced, "
                f"tag_dirty, sync_attempts) SELECT DISTINCT {c['member_code']}, 0, 0, 0, '', "
                f"'', '', '', '', '', 0, 0 FROM {RAW} WHERE true "
                "ON CONFLICT (member_code) DO NOTHING")
            run(f"INSERT INTO {TOUCHED} (member_code) SELECT DISTINCT {c['member_code']} "
                f"FROM {RAW} WHERE true ON CONFLICT (member_code) DO NOTHING")
        if unionids:
            run("INSERT INTO loyalty_member (member_code, unionid, total_fen, purchases, "
                "growth, level, stage, level_tag, stage_tag, level_tag_synced, "
                f"stage_tag_synced, tag_dirty, sync_attempts) SELECT {c['member_code']}, "
                f"{c['unionid']}, 0, 0, 0, '', '', '', '', '', '', 0, 0 FROM {RAW} WHERE n IN "
                f"(SELECT max(n) FROM {RAW} WHERE {c['unionid']} <> '' GROUP BY "
                f"{c['member_code']}) ON CONFLICT (member_code) DO UPDATE SET "
                "unionid = excluded.unionid")
