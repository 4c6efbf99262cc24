"""A decrypted callback's XML, as the flat fields that are stored (`parse_xml`).

Its own module because reading WeCom's XML safely and cheaply is one concern (no entities,
one handler per element) and turning the fields into typed events (bot.wecom.events) is
another; the endpoint, the inbox and replay all start from these flat fields.
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

Fields = dict[str, Any]


class MalformedEvent(Exception):
    """A verified callback whose content cannot be understood; the message says why."""


def parse_xml(xml: str | bytes) -> Fields:
    """Flat fields of a decrypted callback (or of the POST envelope around it).

    Parsed with expat directly, with a handler per element: about a third of the cost of
    building xmltodict's nested dicts, and this runs for every callback before the 200.
    A document type declaration is refused outright, so no entity can be declared, let
    alone expanded: no XML bombs, no external entities. Text is stripped and an empty
    element is "", as the stored form has always been.
    """
    reader = _FlatReader()
    parser = expat.ParserCreate()
    parser.buffer_text = True  # one CharacterData call per text node, not one per chunk
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text.append
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise MalformedEvent(f"invalid XML: {exc}") from exc
    except (LookupError, ValueError) as exc:
        # An XML declaration naming an encoding Python does not know ("x-klingon") raises
        # LookupError out of expat; it used to escape as a 500.
        raise MalformedEvent(f"invalid XML: {exc}") from exc
    if reader.depth != 0 or not reader.seen_root:  # pragma: no cover - expat refuses these
        raise MalformedEvent("missing <xml> root element")
    return reader.fields


def _refuse_doctype(*_args: object) -> None:
    raise MalformedEvent("invalid XML: document type declarations are not accepted")


MAX_DEPTH = 12  # <xml> is 1; the deepest real sample (ApprovalInfo's ItemName) is 7

Nested = list[list[Any]]  # [[name, text or Nested], ...] in document order


class _FlatReader:
    """Collects `<xml><Name>text</Name>...</xml>`.

    A field with child elements (`MemChangeList`'s `<Item>`s; staff-directory `ExtAttr`,
    `BatchJob`, `ApprovalInfo`, `SendPicsInfo` in other callbacks) is kept as
    [[child name, text or its own children], ...] in document order: a callback the bot
    has no class for is still recorded whole and acknowledged, not refused (WeCom would
    redeliver it three times and then drop it). `MemChangeList` becomes its list of ids.
    """

    __slots__ = ("depth", "field", "fields", "nodes", "seen_root", "text")

    def __init__(self) -> None:
        self.fields: Fields = {}
        self.text: list[str] = []
        self.depth = 0
        self.field = ""
        # the open elements below the field: (name, children so far)
        self.nodes: list[tuple[str, Nested]] = []
        self.seen_root = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if depth == 2:
            if attrs or name in self.fields:
                raise MalformedEvent(f"field {name} must be text")
            self.field = name
            self.nodes = [(name, [])]
        elif depth == 1:
            if name != "xml":
                raise MalformedEvent("missing <xml> root element")
            self.seen_root = True
        elif attrs or depth > MAX_DEPTH:
            raise MalformedEvent(f"field {self.field} must be text")
        else:
            self.nodes.append((name, []))
        self.text.clear()

    def end(self, name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == 2:
            children = self.nodes.pop()[1]
            if name == "MemChangeList":
                self.fields[name] = (_member_items(children) if children
                                     else _member_list("".join(self.text)))
            elif children:
                self.fields[name] = children
            else:
                self.fields[name] = "".join(self.text).strip()
        elif depth > 2:
            node, children = self.nodes.pop()
            value: str | Nested = children if children else "".join(self.text).strip()
            self.nodes[-1][1].append([node, value])
        self.text.clear()


def _member_items(children: Nested) -> list[str]:
    """MemChangeList as <Item>user id</Item> children."""
    items = []
    for name, value in children:
        if name != "Item":
            raise MalformedEvent("field MemChangeList must be text or <Item>s")
        if not isinstance(value, str) or not value:
            raise MalformedEvent("MemChangeList must list <Item> user ids")
        items.append(value)
    return items


def _member_list(value: str) -> list[str]:
    """MemChangeList as comma-separated text (some samples) rather than <Item> children."""
    return [part.strip() for part in value.split(",") if part.strip()]
