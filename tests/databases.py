"""Which database a test runs on: a SQLite file (default), or a fresh PostgreSQL schema.

`BOT_TEST_DATABASE_URL=postgresql+psycopg://user:pass@host/db` runs the suite on
PostgreSQL: every test gets a schema of its own in that database (selected through the
connection's `search_path`, so the bot's unqualified SQL and Alembic land in it), dropped
afterwards. Leader and liveness locks are keyed by schema too, so tests never see each
other's replicas. Tests that only make sense with a server (several replicas) skip
cleanly without the variable: `requires_postgres`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

TEST_DB_ENV = "BOT_TEST_DATABASE_URL"

requires_postgres = pytest.mark.skipif(
    not os.environ.get(TEST_DB_ENV, "").startswith("postgresql"),
    reason=f"needs PostgreSQL: set {TEST_DB_ENV}=postgresql+psycopg://...",
)


def postgres_url() -> str | None:
    url = os.environ.get(TEST_DB_ENV, "")
    return url if url.startswith("postgresql") else None


@dataclass
class ScratchDb:
    """One test's database, and a way to read it as an operator would (`?` parameters)."""

    url: str
    sqlite_path: Path | None = None
    schema: str | None = None
    base_url: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.schema is not None

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.sqlite_path is not None:
            with sqlite3.connect(self.sqlite_path) as conn:
                return conn.execute(sql, params).fetchall()
        with _pg_connect(self.base_url or "", self.schema) as conn:
            cursor = conn.execute(sql.replace("?", "%s"), params)
            return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    @contextlib.contextmanager
    def holding_writes(self, table: str) -> Iterator[None]:
        """Another connection holds the lock every write to `table` needs (SQLite: the
        database's write lock) until the block ends; reads go on."""
        if self.sqlite_path is not None:
            conn = sqlite3.connect(self.sqlite_path, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield
                conn.execute("ROLLBACK")
            finally:
                conn.close()
            return
        with _pg_connect(self.base_url or "", self.schema) as conn, conn.transaction():
            conn.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
            yield

    def drop(self) -> None:
        if self.schema is not None:
            with _pg_connect(self.base_url or "", None) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def new_scratch_db(tmp_path: Path, name: str = "bot") -> ScratchDb:
    base = postgres_url()
    if base is None:
        path = tmp_path / f"{name}.db"
        return ScratchDb(f"sqlite:///{path}", sqlite_path=path)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with _pg_connect(base, None) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    return ScratchDb(url, schema=schema, base_url=base)


def _pg_connect(url: str, schema: str | None) -> Any:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    kwargs: dict[str, Any] = {"host": u.host, "port": u.port, "user": u.username,
                              "password": u.password, "dbname": u.database, "autocommit": True}
    if schema is not None:
        kwargs["options"] = f"-csearch_path={schema}"
    return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})
