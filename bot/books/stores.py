"""The store directory (`sop/stores.yaml`): who runs each store and which group it invites to.

Channels, welcomes and SOP schedules all name stores by their 4-digit id (the id printed in
every 「联系我」 state such as ``store-0012-counter``); this module turns that id into the
facts a message needs: the store's name, city, hours, manager and customer group. It also
names the WeCom members who own QR codes (managers, and extra ``staff:`` such as a persona
account), so a welcome can say who is writing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from bot.books.yamlfile import (
    OperatorFileError,
    OperatorFileErrors,
    OperatorModel,
    error_at,
    load_checked,
    validate,
)

__all__ = ["STORE_ID_RE", "StaffMember", "Store", "StoreDirectory", "check_store_id"]

STORE_ID_RE = re.compile(r"\d{4}")
_TIME_RE = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def check_store_id(value: str) -> str:
    """Store ids are exactly 4 digits; leading zeros matter, so they are text, not numbers."""
    if not STORE_ID_RE.fullmatch(value):
        raise ValueError(f'store id must be 4 digits in quotes, e.g. "0012" (found {value!r})')
    return value


def _check_time(value: str) -> str:
    if not _TIME_RE.fullmatch(value):
        raise ValueError(f'expected a time like "08:30" (found {value!r})')
    return value


def _check_url(value: str) -> str:
    """An https:// address, or a local picture under sop/ (uploaded by the bot, bot.media)."""
    local = "://" not in value and value.lower().endswith((".png", ".jpg", ".jpeg"))
    if value and not local and not value.startswith("https://"):
        raise ValueError("must be a local image file (images/group-qr/0012.png) or an "
                         "https:// address (WeCom clients refuse plain http)")
    return value


StoreId = Annotated[str, AfterValidator(check_store_id)]
ClockTime = Annotated[str, AfterValidator(_check_time)]
NonEmpty = Annotated[str, Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class Store:
    """One store, as templates see it (``{{ store.name }}``, ``{{ store.hours }}``)."""

    id: str
    name: str  # short name customers use, e.g. 天钥桥路店
    city: str
    address: str
    manager_userid: str  # WeCom userid of the manager whose QR cards carry this store's id
    manager_name: str  # how the manager signs messages: 林晓雨
    group_name: str  # the store's customer group, as shown in WeCom
    opens: str  # "08:00"; text, so YAML 1.2 keeps it as written
    closes: str
    district: str = ""
    phone: str = ""
    group_qr_url: str = ""  # image of the group's QR code, for welcome attachments

    @property
    def hours(self) -> str:
        """Opening hours as shops write them: ``08:00-22:30``."""
        return f"{self.opens}-{self.closes}"


class _StoreSpec(OperatorModel):
    name: NonEmpty
    city: NonEmpty
    district: str = ""
    address: NonEmpty
    manager_userid: NonEmpty
    manager_name: NonEmpty
    group_name: NonEmpty
    opens: ClockTime
    closes: ClockTime
    phone: str = ""
    group_qr_url: Annotated[str, AfterValidator(_check_url)] = ""


class _StaffSpec(OperatorModel):
    name: NonEmpty
    store: StoreId | None = None


class _StoresFile(OperatorModel):
    stores: dict[StoreId, _StoreSpec] = Field(min_length=1)
    # WeCom members who own QR codes but run no store (persona accounts, HQ operators)
    staff: dict[NonEmpty, _StaffSpec] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A WeCom member (userid) who may send welcomes, and the store they belong to."""

    userid: str
    name: str
    store_id: str | None


_LOADED: dict[Path, tuple[tuple[int, int, int], StoreDirectory]] = {}


class StoreDirectory:
    """All stores of the chain, by id; loaded once and shared (read-only)."""

    def __init__(
        self,
        stores: list[Store],
        path: Path | None = None,
        staff: list[StaffMember] | None = None,
    ) -> None:
        self.path = path
        self._stores = {store.id: store for store in stores}
        self._managed: dict[str, list[Store]] = {}  # by_manager without a scan of every store
        for store in self._stores.values():
            self._managed.setdefault(store.manager_userid, []).append(store)
        self._staff: dict[str, StaffMember] = {}
        for store in stores:  # a manager of two stores belongs to the first
            self._staff.setdefault(
                store.manager_userid,
                StaffMember(store.manager_userid, store.manager_name, store.id),
            )
        for member in staff or ():
            self._staff.setdefault(member.userid, member)

    @classmethod
    def load(cls, path: Path | str) -> StoreDirectory:
        """Read and check `sop/stores.yaml`; raises `OperatorFileErrors` listing every problem.

        The directory of an unchanged file (same size and modification time) is reused: a
        10,000-store file takes seconds to parse, and every SOP reload asks for it again.
        """
        path = Path(path)
        stat = path.stat() if path.exists() else None
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino) if stat is not None else None
        cached = _LOADED.get(path.resolve())
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        directory = cls._parse(path)
        if key is not None:
            _LOADED[path.resolve()] = (key, directory)
        return directory

    @classmethod
    def _parse(cls, path: Path) -> StoreDirectory:
        return load_checked(path, lambda data: cls._check(path, data))

    @classmethod
    def _check(cls, path: Path, data: Any) -> StoreDirectory:
        spec = validate(path, data, _StoresFile)
        stores = [Store(id=store_id, **item.model_dump()) for store_id, item in spec.stores.items()]
        managers = {s.manager_userid: s.id for s in stores}
        errors: list[OperatorFileError] = []
        staff: list[StaffMember] = []
        for userid, member in spec.staff.items():
            if userid in managers:
                errors.append(
                    error_at(
                        path,
                        data,
                        ("staff", userid),
                        f"staff.{userid}: already the manager of store {managers[userid]}; "
                        "managers are listed under their store only",
                        at_key=True,
                    )
                )
            if member.store is not None and member.store not in spec.stores:
                errors.append(
                    error_at(
                        path,
                        data,
                        ("staff", userid, "store"),
                        f"staff.{userid}.store: store '{member.store}' is not in this file",
                    )
                )
            staff.append(StaffMember(userid, member.name, member.store))
        if errors:
            raise OperatorFileErrors(errors)
        return cls(stores, path, staff)

    def get(self, store_id: str) -> Store | None:
        """The store with this id, or None (a closed store's QR code may still be scanned)."""
        return self._stores.get(store_id)

    def all(self) -> list[Store]:
        """Every store, in file order."""
        return list(self._stores.values())

    def by_manager(self, userid: str) -> list[Store]:
        """Stores run by a WeCom member (one manager may run two small stores)."""
        return list(self._managed.get(userid, ()))

    def staff(self, userid: str) -> StaffMember | None:
        """A WeCom member named in the file (a store manager or a ``staff:`` entry)."""
        return self._staff.get(userid)

    def staff_name(self, userid: str) -> str:
        """How `userid` signs welcomes; "" when the file does not name them."""
        member = self._staff.get(userid)
        return member.name if member is not None else ""

    def store_rows(self) -> list[dict[str, str]]:
        """Rows for the database's ``store`` table (see bot.db.repo.sync_directory)."""
        return [
            {"id": s.id, "name": s.name, "city": s.city, "manager_userid": s.manager_userid}
            for s in self._stores.values()
        ]

    def staff_rows(self) -> list[dict[str, str | None]]:
        """Rows for the database's ``staff`` table: managers first, then other staff."""
        return [
            {"userid": m.userid, "name": m.name, "store_id": m.store_id}
            for m in self._staff.values()
        ]

    def __contains__(self, store_id: object) -> bool:
        return store_id in self._stores

    def __len__(self) -> int:
        return len(self._stores)
