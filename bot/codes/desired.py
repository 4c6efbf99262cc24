"""What should exist in WeCom: every code and group welcome the operator files ask for.

From `sop/codes.yaml`, the channels of `sop/channels.yaml` and the stores of
`sop/stores.yaml` (and, for the join codes, the stores' groups as the bot last saw them):

- a channel whose match captures the store (``store-{store}-counter``) with ``staff:
  manager`` gets one 「联系我」 per store, owned by its manager; any other channel one code;
- every store with a customer group gets one 「加入群聊」 (up to 5 of its groups with room,
  oldest first; WeCom opens 「<group_name>2」... when they are all full);
- each ``group_welcome:`` entry becomes one template, rendered once for its stores.

Everything WeCom would refuse, and everything that would make two codes share a state, is
found here, with file:line, before a single call is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.books.positions import Loc
from bot.books.stores import Store, StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.channels import ChannelBook
from bot.codes.model import DesiredCode, Findings, GroupRoom, chat_list
from bot.codes.spec import CodesFile, ContactWaySpec, JoinWaySpec
from bot.codes.welcome_template import group_welcome_codes
from bot.wecom.contact_ways import MAX_CONTACT_WAY_USERS, MAX_STATE_CHARS

SAMPLE_STORE_ID = "0000"


def desired_codes(spec: CodesFile, findings: Findings, channels: ChannelBook,
                  stores: StoreDirectory, rooms: Mapping[str, Sequence[GroupRoom]],
                  templates: TemplateLibrary) -> list[DesiredCode]:
    """Every code the files ask for, in file order; problems go to `findings`."""
    codes: list[DesiredCode] = []
    for name, entry in spec.contact_ways.items():
        codes.extend(_contact_codes(name, entry, findings, channels, stores))
    if spec.join_ways is not None:
        codes.extend(_join_codes(spec.join_ways, findings, stores, rooms))
    codes.extend(group_welcome_codes(spec.group_welcome, findings.add, stores, templates))
    _unique_states(codes, findings)
    return codes


def _per_store_state(channels: ChannelBook, name: str) -> str | None:
    """The channel's match with ``{store}`` as its only capture (``store-{store}-counter``)."""
    channel = channels.channel(name)
    if channel is None or channel.store is None or channel.store.source != "{store}":
        return None
    for pattern in channel.patterns:
        if pattern.captures == ("store",) and "*" not in pattern.source:
            return pattern.source
    return None


def _contact_codes(name: str, entry: ContactWaySpec, findings: Findings,
                   channels: ChannelBook, stores: StoreDirectory) -> list[DesiredCode]:
    where: Loc = ("contact_ways", name)
    if channels.channel(name) is None:
        findings.add(where, f"contact_ways.{name}: no such channel in channels.yaml "
                            f"(channels: {', '.join(channels.names())})", at_key=True)
        return []
    body: dict[str, Any] = {"type": 1, "scene": 2, "skip_verify": entry.skip_verify}
    if entry.remark:
        body["remark"] = entry.remark
    if entry.staff == "manager":
        return _per_store_codes(name, entry, findings, channels, stores, body)
    if not _staff_ok(name, entry.staff, findings, stores):
        return []
    state = entry.state or _exact_state(channels, name)
    if state is None:
        findings.add(where, f"contact_ways.{name}: the channel matches patterns only; give "
                            "the code its `state:`", at_key=True)
        return []
    if len(state) > MAX_STATE_CHARS:
        findings.add((*where, "state") if entry.state else where,
                     f"contact_ways.{name}: state '{state}' has {len(state)} characters, "
                     f"WeCom allows {MAX_STATE_CHARS}", at_key=entry.state is None)
        return []
    matched = channels.match(state).channel
    if matched != name:
        findings.add((*where, "state"), f"contact_ways.{name}: state '{state}' belongs to "
                                         f"channel '{matched}' in channels.yaml, not '{name}'")
        return []
    users = list(dict.fromkeys(entry.staff))
    # type 2 ("several members") even for one: WeCom cannot change a way's type later
    body.update(type=2, user=users, state=state)
    return [DesiredCode(f"contact:{state}", "contact", state, name, None, "", body)]


def _per_store_codes(name: str, entry: ContactWaySpec, findings: Findings,
                     channels: ChannelBook, stores: StoreDirectory,
                     body: dict[str, Any]) -> list[DesiredCode]:
    where: Loc = ("contact_ways", name)
    pattern = _per_store_state(channels, name)
    if pattern is None:
        findings.add((*where, "staff"), f"contact_ways.{name}: `staff: manager` needs a "
                                        "channel whose match captures {store} (e.g. "
                                        "store-{store}-counter); list the staff instead")
        return []
    if entry.state is not None:
        findings.add((*where, "state"), f"contact_ways.{name}: a per-store code takes its "
                                         f"state from the channel's match '{pattern}'")
        return []
    sample = pattern.replace("{store}", SAMPLE_STORE_ID)
    if len(sample) > MAX_STATE_CHARS:
        findings.add(where, f"contact_ways.{name}: state '{sample}' (from the match "
                            f"'{pattern}') has {len(sample)} characters, WeCom allows "
                            f"{MAX_STATE_CHARS}: shorten the match in channels.yaml",
                     at_key=True)
        return []
    return [_store_code(name, pattern.replace("{store}", s.id), s, body)
            for s in stores.all()]


def _store_code(channel: str, state: str, store: Store, body: dict[str, Any]) -> DesiredCode:
    return DesiredCode(f"contact:{state}", "contact", state, channel, store.id, store.name,
                       {**body, "user": [store.manager_userid], "state": state})


def _exact_state(channels: ChannelBook, name: str) -> str | None:
    channel = channels.channel(name)
    exact = [p.source for p in channel.patterns if p.regex is None] if channel else []
    return exact[0] if exact else None


def _staff_ok(name: str, staff: list[str], findings: Findings, stores: StoreDirectory) -> bool:
    where: Loc = ("contact_ways", name, "staff")
    before = len(findings.errors)
    users = list(dict.fromkeys(staff))
    if len(users) > MAX_CONTACT_WAY_USERS:
        findings.add(where, f"contact_ways.{name}.staff: {len(users)} members, WeCom allows "
                            f"{MAX_CONTACT_WAY_USERS} on one code")
    for index, userid in enumerate(staff):
        if stores.staff(userid) is None:
            findings.add((*where, index), f"contact_ways.{name}.staff: '{userid}' is neither "
                                          "a store manager nor under staff: in stores.yaml")
    return len(findings.errors) == before


def _join_codes(spec: JoinWaySpec, findings: Findings, stores: StoreDirectory,
                rooms: Mapping[str, Sequence[GroupRoom]]) -> list[DesiredCode]:
    sample = spec.state.replace("{store}", SAMPLE_STORE_ID)
    if "{store}" not in spec.state or len(sample) > MAX_STATE_CHARS:
        findings.add(("join_ways", "state"), f"join_ways.state: '{spec.state}' must contain "
                                             f"{{store}} and stay within {MAX_STATE_CHARS} "
                                             f"characters (gives '{sample}')")
        return []
    codes = []
    for store in stores.all():
        chats = chat_list(rooms.get(store.id, ()), spec.full_at)
        if not chats:
            findings.notes.append(f"store {store.id} {store.name}: no customer group yet, "
                                  "so no join code (make the group in WeCom, then sync again)")
            continue
        state = spec.state.replace("{store}", store.id)
        body: dict[str, Any] = {
            "scene": 2, "auto_create_room": 1, "room_base_name": store.group_name[:40],
            "room_base_id": spec.room_base_id, "chat_id_list": chats, "state": state}
        if spec.remark:
            body["remark"] = spec.remark
        codes.append(DesiredCode(f"join:{store.id}", "join", state, spec.channel, store.id,
                                 store.name, body, full_at=spec.full_at))
    return codes


def _unique_states(codes: list[DesiredCode], findings: Findings) -> None:
    seen: dict[str, DesiredCode] = {}
    for code in codes:
        if not code.state:
            continue
        other = seen.setdefault(code.state, code)
        if other is not code:
            findings.add(("contact_ways",), f"state '{code.state}' would be used by two codes "
                                            f"({other.channel} and {code.channel}): a state "
                                            "must name one code", at_key=True)
