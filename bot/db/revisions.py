"""The newest migration, read from the migration scripts without importing Alembic (or
SQLAlchemy): what `bot run` checks the database against before it records the first
callback (bot.frontdoor, bot.db.engine `migrate`)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

_REVISION = re.compile(
    r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)\s*$""", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def known_head() -> str | None:
    """The newest migration, read from the scripts' `revision`/`down_revision` lines; None
    when that is not one plain chain (a merge, an unusual file): then Alembic decides."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict((m[0], m[1] or None) for m in _REVISION.findall(path.read_text("utf-8")))
        if "revision" not in found or "down_revision" not in found or found["revision"] is None:
            return None
        revisions[found["revision"]] = found["down_revision"]
    parents = set(revisions.values())
    heads = [rev for rev in revisions if rev not in parents]
    return heads[0] if len(heads) == 1 else None
