"""A write as plain SQL and parameters: the form a write takes to leave the event loop.

Most writes are Python functions of a connection (`Database.write(fn)`), which only this
process can run. The writes made for every callback (recording it, a welcome's rows, marking
it done) are nothing but statements with parameters, so they are written as `Statements`:
plain data that pickles. On SQLite the group commit hands a batch made only of these to the
writer process (bot.db.writer_process), which runs them on the other core while the loop
goes on; anywhere else they run like any write function (`Statements` is one).

Stdlib only at import: the writer process loads this module and `sqlite3`, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Params = dict[str, Any] | list[dict[str, Any]]
Step = tuple[str, Params]  # SQL with `:name` parameters; a list of dicts runs as executemany


@dataclass(frozen=True, slots=True)
class Statements:
    """Steps run in order inside the group commit's transaction. `returns`: the index of the
    step whose first row (a tuple, or None) is the write's result; otherwise None."""

    steps: tuple[Step, ...]
    returns: int | None = None

    @classmethod
    def of(cls, *parts: Iterable[Step]) -> Statements:
        return cls(tuple(step for part in parts for step in part))

    def then(self, *parts: Iterable[Step]) -> Statements:
        """These steps followed by more (the result stays the same step's)."""
        return Statements(self.steps + tuple(step for part in parts for step in part),
                          self.returns)

    def __call__(self, conn: Connection) -> Any:
        """Run on a SQLAlchemy connection (PostgreSQL, or SQLite on the loop)."""
        from bot.db.engine import driver_execute

        return self._run(lambda statement, params: driver_execute(conn, statement, params))

    def run_sqlite(self, conn: Any) -> Any:
        """Run on a `sqlite3` connection (the writer process)."""
        def execute(statement: str, params: Params) -> Any:
            if isinstance(params, list):
                return conn.executemany(statement, params)
            return conn.execute(statement, params)
        return self._run(execute)

    def _run(self, execute: Any) -> Any:
        result = None
        for index, (statement, params) in enumerate(self.steps):
            if isinstance(params, list) and not params:
                continue  # nothing to insert (a welcome without tags)
            cursor = execute(statement, params)
            if index == self.returns:
                rows = cursor.fetchall()  # to the end: a RETURNING statement left open
                result = tuple(rows[0]) if rows else None  # would hold up the commit
            cursor.close()
        return result

