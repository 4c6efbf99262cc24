"""`python -m bot members import FILE`: a till's CSV export, streamed in chunks.

The file is read row by row and written CHUNK rows per transaction, so a 5,000,000-row
export runs in the memory of one chunk. A row with a bad field is reported with its line
number and reason and left out; the good rows are imported. Order id is the key: the same
file imported again adds nothing. The members touched are recomputed in the same
transaction while they are few; past `INCREMENTAL_LIMIT` one recompute of everyone runs at
the end instead (cheaper than a million small ones).

Header names follow bot.members.purchases (order_id, member_code, store_id, amount, at,
unionid, phone, items); a UTF-8 BOM (Excel's) is accepted.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import Engine

from bot.members.compute import recompute
from bot.members.purchases import BadPurchase, PhoneHasher, PurchaseRow, parse_purchase
from bot.members.rules import MemberRules

__all__ = ["CHUNK", "ImportReport", "import_csv"]
CHUNK = 20_000
INCREMENTAL_LIMIT = 50_000  # distinct members: above this, one full recompute at the end
REQUIRED = ("order_id", "member_code", "amount", "at")
MAX_PROBLEMS_SHOWN = 50


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0  # new purchases
    already: int = 0  # order ids imported before
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    members_to_sync: int = 0
    seconds: float = 0.0

    def lines(self) -> Iterator[str]:
        for line, reason in self.bad[:MAX_PROBLEMS_SHOWN]:
            yield f"line {line}: {reason}"
        if len(self.bad) > MAX_PROBLEMS_SHOWN:
            yield f"... and {len(self.bad) - MAX_PROBLEMS_SHOWN} more bad rows"
        rate = self.rows / self.seconds if self.seconds else 0.0
        yield (f"{self.rows} rows: {self.imported} new purchases, {self.already} already "
               f"imported, {len(self.bad)} bad; {self.members_to_sync} members wait for the "
               f"tag sync ({self.seconds:.1f} s, {rate:,.0f} rows/s)")


class HeaderError(ValueError):
    pass


def _rows(handle: TextIO, report: ImportReport, now: float,
          hasher: PhoneHasher) -> Iterator[PurchaseRow]:
    reader = csv.reader(handle)
    header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise HeaderError(f"line 1: the header lacks {', '.join(missing)} (found: "
                          f"{', '.join(header) or 'nothing'})")
    width = len(header)
    for values in reader:
        if not values:
            continue
        report.rows += 1
        if len(values) != width:
            report.bad.append((reader.line_num, f"{len(values)} fields, the header has "
                                                f"{width}"))
            continue
        try:
            yield parse_purchase(dict(zip(header, values, strict=True)), now, hasher)
        except BadPurchase as exc:
            report.bad.append((reader.line_num, str(exc)))


def _chunks(rows: Iterator[PurchaseRow]) -> Iterator[list[PurchaseRow]]:
    chunk: list[PurchaseRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_csv(engine: Engine, path: Path, rules: MemberRules, *, now: float | None = None,
               hasher: PhoneHasher | None = None,
               progress: Callable[[ImportReport], None] | None = None) -> ImportReport:
    """Import one CSV file; raises `HeaderError` (nothing written) for a bad header."""
    from bot.members.purchases import write_purchases

    started, now = time.perf_counter(), now if now is not None else time.time()
    report, touched, full = ImportReport(), set[str](), False
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for chunk in _chunks(_rows(handle, report, now, hasher or PhoneHasher())):
            with engine.begin() as conn:
                new, codes = write_purchases(conn, chunk)
                report.imported += new
                report.already += len(chunk) - new
                if not full and new:
                    touched |= codes
                    full = len(touched) > INCREMENTAL_LIMIT
                    if not full:
                        report.members_to_sync += recompute(conn, rules, now, sorted(codes))
            if progress is not None:
                progress(report)
    if full:
        with engine.begin() as conn:
            report.members_to_sync = recompute(conn, rules, now)
    report.seconds = time.perf_counter() - started
    return report
