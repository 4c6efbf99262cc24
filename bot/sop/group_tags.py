"""Customer groups as SOPs see them: rows from the database, with group tags from groups.yaml.

WeCom has no tags for customer groups that a bot can read, yet operators want "the 宝妈
groups" or "the pilot stores' groups". `sop/groups.yaml` gives groups tags by rule: a group
whose name contains 宝妈, every group of stores 0012 and 0107, the groups a persona account
owns, or named chat ids. Tags are applied when groups are read, so `SopBook.select_groups`
only compares sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.books.stores import StoreDirectory
from bot.books.yamlfile import OperatorFileError, OperatorFileErrors, error_at, load_model
from bot.db.engine import Database
from bot.i18n import t
from bot.sop.spec import GroupsFile, GroupTagRule

__all__ = ["GroupRow", "GroupTags", "load_groups", "nominal_groups", "read_groups"]

NOMINAL_PREFIX = "nominal-"

_GROUPS_SQL = text(
    "SELECT chat_id, name, owner, store_id FROM customer_group "
    "WHERE dismissed_at IS NULL ORDER BY store_id, owner, chat_id"
)


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One live customer group; `store_id` is None when no store is linked to its owner."""

    chat_id: str
    name: str
    owner: str  # userid of the group owner: the ``sender`` of its add_msg_template
    store_id: str | None
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Rule:
    tag: str
    name_contains: tuple[str, ...]
    stores: frozenset[str]
    owners: frozenset[str]
    chats: frozenset[str]

    def matches(self, group: GroupRow) -> bool:
        return (
            any(part in group.name for part in self.name_contains)
            or (group.store_id is not None and group.store_id in self.stores)
            or group.owner in self.owners
            or group.chat_id in self.chats
        )


class GroupTags:
    """The tag rules of `sop/groups.yaml`, applied to group rows."""

    def __init__(self, rules: Mapping[str, GroupTagRule] | None = None,
                 path: Path | None = None) -> None:
        self.path = path
        self._rules = [
            _Rule(
                tag=tag,
                name_contains=tuple(rule.name_contains),
                stores=frozenset(rule.stores),
                owners=frozenset(rule.owners),
                chats=frozenset(rule.chats),
            )
            for tag, rule in (rules or {}).items()
        ]

    @classmethod
    def load(cls, path: Path, stores: StoreDirectory) -> GroupTags:
        """Read `sop/groups.yaml`; a missing file means no group tags."""
        if not path.exists():
            return cls({}, None)
        data, spec = load_model(path, GroupsFile)
        errors: list[OperatorFileError] = []
        for tag, rule in spec.tags.items():
            for index, store_id in enumerate(rule.stores):
                if store_id not in stores:
                    errors.append(
                        error_at(
                            path,
                            data,
                            ("tags", tag, "stores", index),
                            t("groups.no_such_store", tag=tag, store=store_id),
                        )
                    )
        if errors:
            raise OperatorFileErrors(errors)
        return cls(spec.tags, path)

    def names(self) -> list[str]:
        """Tag names, in file order."""
        return [rule.tag for rule in self._rules]

    def __contains__(self, tag: object) -> bool:
        return any(rule.tag == tag for rule in self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def possible(self, store_id: str, owners: Iterable[str]
                 ) -> tuple[frozenset[str], frozenset[str]]:
        """For a store whose groups are owned by `owners`: the tags every one of its groups
        has (a ``stores:`` rule) and the tags some of them may have (names, owners, chats)."""
        forced = {r.tag for r in self._rules if store_id in r.stores}
        maybe = {r.tag for r in self._rules
                 if r.name_contains or r.chats or r.owners & set(owners)}
        return frozenset(forced), frozenset(maybe - forced)

    def tags_for(self, group: GroupRow) -> frozenset[str]:
        return frozenset(rule.tag for rule in self._rules if rule.matches(group))

    def apply(self, group: GroupRow) -> GroupRow:
        """The row with its tags from this file (any tags it had are replaced)."""
        return replace(group, tags=self.tags_for(group))


def read_groups(conn: Connection, tags: GroupTags | None = None) -> list[GroupRow]:
    """Live (not dismissed) groups from table ``customer_group``, tagged; for `Database.read`."""
    rules = tags or GroupTags()
    return [
        rules.apply(
            GroupRow(
                chat_id=row.chat_id,
                name=row.name or "",
                owner=row.owner or "",
                store_id=row.store_id,
            )
        )
        for row in conn.execute(_GROUPS_SQL)
    ]


async def load_groups(db: Database, tags: GroupTags | None = None) -> list[GroupRow]:
    """Live groups from the bot's database, with their group tags (on a reader thread)."""
    return await db.read(lambda conn: read_groups(conn, tags))


def nominal_groups(stores: StoreDirectory, tags: GroupTags | None = None,
                   only: Iterable[str] | None = None) -> list[GroupRow]:
    """One stand-in group per store, named as stores.yaml says, owned by its manager.

    For previews before the bot has seen any real group: chat ids are ``nominal-<store>``.
    """
    rules = tags or GroupTags()
    wanted = set(only) if only is not None else None
    return [
        rules.apply(
            GroupRow(
                chat_id=f"{NOMINAL_PREFIX}{store.id}",
                name=store.group_name,
                owner=store.manager_userid,
                store_id=store.id,
            )
        )
        for store in stores.all()
        if wanted is None or store.id in wanted
    ]
