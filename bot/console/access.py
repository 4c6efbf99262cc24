"""Who may see what in the console: asked on every request, from the signed session's userid.

Operators (`[console] operators`) see the whole chain; a store manager sees the stores the
store directory (sop/stores.yaml) says they run; anyone else sees nothing (403). A request
naming a store outside the viewer's scope is refused with the same words whether the store
exists or not, so the console is no oracle of the chain's store ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.books.stores import StoreDirectory

NOT_YOURS = "没有权限查看这家门店，或门店不存在"


class NoAccess(Exception):
    """The signed-in member may not see the console, or not this store or group."""


@dataclass(frozen=True, slots=True)
class Viewer:
    userid: str
    name: str
    role: str  # operator | manager
    stores: frozenset[str] | None  # None = every store (operators)

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    def may_see(self, store_id: str | None) -> bool:
        return self.stores is None or (store_id or "") in self.stores

    def check_store(self, store_id: str | None) -> None:
        if not self.may_see(store_id):
            raise NoAccess(NOT_YOURS)

    def scope(self, wanted: str | None) -> frozenset[str] | None:
        """The stores a page covers: one store asked for (checked), else all the viewer's."""
        if wanted:
            self.check_store(wanted)
            return frozenset({wanted})
        return self.stores


def viewer_for(userid: str, operators: Iterable[str], stores: StoreDirectory) -> Viewer:
    """The viewer this userid is, or `NoAccess` (staff who run no store, strangers)."""
    name = stores.staff_name(userid) or userid
    if userid in set(operators):
        return Viewer(userid, name, "operator", None)
    own = frozenset(s.id for s in stores.by_manager(userid))
    if not own:
        raise NoAccess("控制台只对运营和店长开放")
    return Viewer(userid, name, "manager", own)
