"""`python -m bot members import FILE`: a till's CSV export, streamed in chunks.

The file is read row by row and written CHUNK rows per transaction, so a 5,000,000-row
export runs in the memory of one chunk. A row with a bad field is reported with its line
number and reason and left out; the good rows are imported. Order id is the key: the same
file imported again adds nothing. The members touched are recomputed at
the end, in one statement (of everyone, when most members were touched).

Header names follow bot.members.purchases (order_id, member_code, store_id, amount, at,
unionid, phone, items); a UTF-8 BOM (Excel's) is accepted.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import Connection, Engine

from bot.i18n import t
from bot.members.bulk import Chunk, RowReader, write_chunk
from bot.members.compute import TOUCHED, TOUCHED_ONLY, recompute
from bot.members.plain import PlainBlocks, blocks
from bot.members.purchases import BadPurchase, PhoneHasher
from bot.members.rules import MemberRules
from bot.members.tables import PURCHASE_INDEX

__all__ = ["CHUNK", "ImportReport", "import_csv"]
CHUNK = 25_000  # rows a transaction: about 10 MB of prepared rows
FULL_ABOVE = 200_000  # members touched: above this, recompute everyone (no IN (...))
BULK_BYTES = 8 * 2**20  # about 200,000 rows: a backfill, not a day's export
REQUIRED = ("order_id", "member_code", "amount", "at")
OPTIONAL_ORDER = ("order_id", "member_code", "store_id", "amount", "at", "unionid", "phone",
                  "items")  # parse_fields' order
MAX_PROBLEMS_SHOWN = 50


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0  # new purchases
    already: int = 0  # order ids imported before
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    members_to_sync: int = 0
    seconds: float = 0.0
    load_s: float = 0.0  # of which reading and writing the rows (and the index rebuilt)
    recompute_s: float = 0.0  # of which the recompute at the end

    def lines(self) -> Iterator[str]:
        for line, reason in self.bad[:MAX_PROBLEMS_SHOWN]:
            yield f"line {line}: {reason}"
        if len(self.bad) > MAX_PROBLEMS_SHOWN:
            yield t("import.more_bad", count=len(self.bad) - MAX_PROBLEMS_SHOWN)
        rate = self.rows / self.load_s if self.load_s else 0.0
        yield t("import.summary", rows=self.rows, imported=self.imported, already=self.already,
                bad=len(self.bad), members=self.members_to_sync, seconds=f"{self.seconds:.1f}",
                load=f"{self.load_s:.1f}", rate=f"{rate:,.0f}",
                recompute=f"{self.recompute_s:.1f}")


class HeaderError(ValueError):
    pass


def _header(handle: TextIO) -> list[str]:
    """The header line's names; raises `HeaderError` when a required one is missing."""
    header = [h.strip().lstrip("\ufeff") for h in next(csv.reader([handle.readline()]), [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise HeaderError("line 1: " + t("import.header_lacks", missing=", ".join(missing),
                                           found=", ".join(header) or "-"))
    return header


def _chunks(block: str, first_line: int, header: list[str], report: ImportReport,
            rows: RowReader) -> Iterator[Chunk]:
    """A block's rows read one by one, CHUNK at a time; bad rows go to `report.bad`."""
    reader, width = csv.reader(io.StringIO(block, newline="")), len(header)
    pick = itemgetter(*(header.index(n) if n in header else width for n in OPTIONAL_ORDER))
    chunk, bad, add, offset = Chunk(), report.bad, rows.add, first_line - 1
    for values in reader:
        if len(values) != width:
            if values:  # a blank line is no row
                report.rows += 1
                bad.append((reader.line_num + offset,
                            t("import.field_count", count=len(values), width=width)))
            continue
        report.rows += 1
        values.append("")  # what an absent optional column reads as (index `width`)
        try:
            add(pick(values), chunk)
        except BadPurchase as exc:
            bad.append((reader.line_num + offset, str(exc)))
        if len(chunk.purchases) >= CHUNK:
            yield chunk
            chunk = Chunk()
    if chunk.purchases:
        yield chunk


def import_csv(engine: Engine, path: Path, rules: MemberRules, *, now: float | None = None,
               hasher: PhoneHasher | None = None,
               progress: Callable[[ImportReport], None] | None = None) -> ImportReport:
    """Import one CSV file; raises `HeaderError` (nothing written) for a bad header.

    One connection throughout. A small file (a day's export) notes the members it touches
    in a temporary table of that connection and recomputes them at the end; a large one
    (a backfill: over `BULK_BYTES`) leaves members to the recompute of everyone at the end,
    which also makes the members it has not seen yet. Blocks of plain rows go set based
    (bot.members.plain), any other block row by row (bot.members.bulk).
    """
    started, now = time.perf_counter(), now if now is not None else time.time()
    report, bulk = ImportReport(), path.stat().st_size > BULK_BYTES
    with (engine.connect() as conn, path.open(encoding="utf-8-sig", newline="") as handle,
          _tuned(conn)):
        header = _header(handle)
        plain, rows = PlainBlocks(conn, header, now), RowReader(now, hasher or PhoneHasher())
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {TOUCHED} "
                             "(member_code VARCHAR(32) PRIMARY KEY)")
        plain.open()
        conn.commit()
        with _index_rebuilt(conn, bulk) as index:
            for first_line, block in blocks(handle, 2):
                with _transaction(conn):
                    done = plain.write(block, bare_members=not bulk)
                if done is not None:
                    report.rows += done[0]
                    _count(report, done[0], done[1], progress)
                    index.after(*done)
                    continue
                for chunk in _chunks(block, first_line, header, report, rows):
                    with _transaction(conn):
                        new = write_chunk(conn, chunk, bare_members=not bulk)
                    _count(report, len(chunk.purchases), new, progress)
                    index.after(len(chunk.purchases), new)
        report.load_s = time.perf_counter() - started
        with _transaction(conn):
            if report.imported:
                report.members_to_sync = _recompute(conn, rules, now, bulk)
            conn.exec_driver_sql(f"DROP TABLE {TOUCHED}")
            plain.close()
        report.recompute_s = time.perf_counter() - started - report.load_s
    report.seconds = time.perf_counter() - started
    return report


def _count(report: ImportReport, purchases: int, new: int,
           progress: Callable[[ImportReport], None] | None) -> None:
    report.imported += new
    report.already += purchases - new
    if progress is not None:
        progress(report)


@contextmanager
def _tuned(conn: Connection) -> Iterator[None]:
    """SQLite: a page cache of 16 MB for this connection while it imports (the default
    2 MB thrashes on the order id index of millions of rows; more costs RSS, and the
    bot's budget is 200 MB), back to the default after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql("PRAGMA cache_size = -16384")
    try:
        yield
    finally:
        conn.exec_driver_sql("PRAGMA cache_size = -2000")


@contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """One transaction of the import. PostgreSQL: `synchronous_commit = off` for it, so
    its commit does not wait for the WAL to reach the disk. A crash of the server may lose
    the last transactions committed (a fraction of a second; never half of one: the
    database stays consistent), and that is safe because an import is idempotent: order
    id is the key, so importing the file again brings back what was lost and adds nothing
    twice, and the recompute at its end runs again."""
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        yield


class _Index:
    """A backfill writes purchases without the (member, time) index and builds it once at
    the end: a sorted build costs a quarter of a million random index inserts (measured,
    SQLite). Dropped after the first block that brought mostly new rows, so a file imported
    again (nothing new) keeps it and rebuilds nothing; rebuilt whatever happens, so a failed
    import leaves the schema whole. The till webhook keeps working meanwhile, its recompute
    slower until the index is back."""

    def __init__(self, conn: Connection, bulk: bool) -> None:
        self.conn, self.bulk, self.dropped = conn, bulk, False

    def after(self, rows: int, new: int) -> None:
        if self.bulk and not self.dropped and new * 2 > rows:
            with self.conn.begin():
                self.conn.exec_driver_sql(f"DROP INDEX IF EXISTS {PURCHASE_INDEX}")
            self.dropped = True

    def rebuild(self) -> None:
        if not self.dropped:
            return
        with self.conn.begin():
            self.conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {PURCHASE_INDEX} ON "
                                      "purchase (member_code, at, amount_fen)")
            if self.conn.dialect.name == "postgresql":  # the planner learns the new size
                self.conn.exec_driver_sql("ANALYZE purchase")
        self.dropped = False


@contextmanager
def _index_rebuilt(conn: Connection, bulk: bool) -> Iterator[_Index]:
    index = _Index(conn, bulk)
    try:
        yield index
    finally:
        index.rebuild()


def _recompute(conn: Connection, rules: MemberRules, now: float, bulk: bool) -> int:
    if bulk:
        return recompute(conn, rules, now)
    touched = conn.exec_driver_sql(
        f"SELECT count(*) FROM {TOUCHED}").scalar() or 0  # noqa: S608 (constant)
    if not touched:
        return 0
    # everyone at once is cheaper than a long IN (...) past a point
    return recompute(conn, rules, now, None if touched > FULL_ABOVE else TOUCHED_ONLY)
