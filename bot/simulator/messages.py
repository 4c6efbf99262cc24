"""Callback plaintexts, rendered the way WeCom's samples look (reference §2-§3).

A `Callback` is what the world produced: ordered fields, the ordering lane (one customer,
one group, one staff member, or the tag list) and whether the envelope carries AgentID.
Strings become CDATA, integers and a few id-like fields are bare text, and MemChangeList
becomes `<Item>` children — exactly the shapes the samples show, one element per line as
in the official test vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

FieldValue = str | int | Sequence[str]

# Shown without CDATA in the official change_external_chat sample.
_BARE_TEXT = frozenset({"LastMemVer", "CurMemVer"})


@dataclass(frozen=True, slots=True)
class Callback:
    """One event or message WeCom will push, before encryption."""

    fields: tuple[tuple[str, FieldValue], ...]
    lane: str
    agent_id: int | None = None  # AgentID in the POST envelope: app messages/events only

    def get(self, name: str) -> FieldValue | None:
        return next((value for key, value in self.fields if key == name), None)

    def to_xml(self) -> str:
        return render(self.fields)


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, value: FieldValue) -> str:
    if isinstance(value, bool):  # pragma: no cover - guarded by the callers' types
        raise TypeError(f"{name}: bool is not a callback field type")
    if isinstance(value, int):
        inner = str(value)
    elif isinstance(value, str):
        inner = escape(value) if name in _BARE_TEXT else _cdata(value)
    else:
        inner = "".join(f"<Item>{escape(item)}</Item>" for item in value)
    return f"<{name}>{inner}</{name}>"


def render(fields: Sequence[tuple[str, FieldValue]]) -> str:
    body = "\n".join(_element(name, value) for name, value in fields)
    return f"<xml>{body}\n</xml>"
