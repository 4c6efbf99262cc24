"""A groupchat/get answer as the rows we keep: the group's own fields and, per member, how
and when they joined. One reading for both readers: the group callbacks (bot.handlers.groups)
and the periodic read-back (bot.group_sync).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JOIN_HOW = {1: "invite", 2: "link", 3: "qr"}  # groupchat/get member_list[].join_scene


def group_fields(group: Mapping[str, Any]) -> dict[str, Any]:
    """`repo.group_seen` keywords: name, owner, creation time, member version."""
    return {"name": group.get("name", ""), "owner": group.get("owner", ""),
            "created_at": float(group["create_time"]) if group.get("create_time") else None,
            "member_version": group.get("member_version", "")}


def join_fields(member: Mapping[str, Any], at: float, *, fallback_how: str = "invite",
                how: str | None = None) -> dict[str, Any]:
    """`repo.group_joined` keywords for one member_list entry: member type, how they
    joined (`fallback_how` when the answer does not say), when (`at` when it does not
    say) and who invited them."""
    if how is None:
        scene = member.get("join_scene")
        how = JOIN_HOW.get(int(scene), fallback_how) if scene is not None else fallback_how
    return {"member_type": int(member.get("type", 2)), "how": how,
            "at": float(member.get("join_time") or at),
            "invitor": (member.get("invitor") or {}).get("userid", "")}
