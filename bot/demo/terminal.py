"""Printing the demo's story in a terminal: CJK text is two columns wide per character.

textwrap counts a Chinese character as one column, so the demo's tables and message boxes
need their own padding, wrapping and clipping.
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["attachment", "attachment_count", "clip", "columns", "pad", "print_text", "wrap"]

TEXT_COLUMNS = 68
_NO_LINE_START = frozenset("，。、；：！？）」』》…～,.;:!?)")


def pad(text: str, width: int) -> str:
    """Left-align in a terminal: CJK characters take two columns."""
    return text + " " * max(width - columns(text), 0)


def columns(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(line: str, width: int) -> list[str]:
    """Break a line at `width` terminal columns (textwrap counts a CJK character as one);
    closing punctuation stays on its line, as Chinese typesetting does."""
    lines: list[str] = []
    current, used = "", 0
    for ch in line:
        cols = columns(ch)
        if current and used + cols > width and ch not in _NO_LINE_START:
            lines.append(current.rstrip())
            current, used = "", 0
            if ch == " ":
                continue
        current += ch
        used += cols
    lines.append(current)
    return lines


def clip(text: str, width: int) -> str:
    """The first line, cut to `width` columns with an ellipsis."""
    first = text.splitlines()[0] if text else ""
    parts = wrap(first, width - 1)
    return parts[0] + ("…" if len(parts) > 1 or "\n" in text else "")


def print_text(text: str, prefix: str) -> None:
    for line in text.splitlines():
        for part in wrap(line, TEXT_COLUMNS):
            print(prefix + part)


def attachment_count(items: tuple[dict[str, Any], ...]) -> str:
    """` (+4 images)`: what came with a message that is shown on one line."""
    if not items:
        return ""
    kinds = {str(item.get("msgtype")) for item in items}
    noun = f"{kinds.pop()}s" if len(kinds) == 1 else "attachments"
    return f" (+{len(items)} {noun})"


def attachment(item: dict[str, Any]) -> str:
    """`[image] url`, `[link] 《title》 url`, `[miniprogram] title`."""
    kind = str(item.get("msgtype", "?"))
    body = item.get(kind) or {}
    if kind == "link":
        return f"[link] 《{body.get('title', '')}》 {body.get('url', '')}"
    return f"[{kind}] {body.get('pic_url') or body.get('title') or body.get('media_id', '')}"
