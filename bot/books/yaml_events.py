"""Plain data straight from libyaml's events, for large operator files (stores.yaml).

The C loader (`bot.books.yamlfile._fast_load`) still builds ruamel's node tree, a node and
two marks for every scalar, before it makes the dicts: reading a 10,000-store stores.yaml
took 89 MB at its peak and 3.9 s of CPU, most of the SOP book check's memory. Built from
the parser's events the same data takes 17 MB and half the time.

Only the plain case: one document of mappings, sequences and untagged scalars, resolved
the way the safe loader resolves them (YAML 1.2). Anything else (an anchor, an alias, a
merge key, a tag, a duplicate or non-scalar key, a ``%YAML`` directive) gives None, and
the caller reads the file the way it did before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ruamel.yaml import events
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import BaseResolver

_Y = "tag:yaml.org,2002:"
_STR = _Y + "str"
_BUILT = frozenset(_Y + kind for kind in ("int", "float", "bool", "null", "timestamp"))


class _NotPlain(Exception):
    """The file is not the plain case: read it the usual way."""


def plain_data(parser: Any, resolver: BaseResolver, scalar: Callable[[str], Any]) -> Any:
    """The document `parser` (a ruamel ``CParser``) reads, or None when not plain.

    `scalar` makes the value of a plain scalar that resolves to anything but text (the safe
    loader on the scalar alone; a result that is text means the two disagree: None)."""
    try:
        return _build(parser, resolver, scalar)
    except _NotPlain:
        return None


def _build(parser: Any, resolver: BaseResolver, scalar: Callable[[str], Any]) -> Any:
    stack: list[list[Any]] = []  # [container, key, has_key] being built
    root: Any = None
    documents = 0
    made: dict[str, Any] = {}
    starts = _typed_starts(resolver)
    get_event, scalar_event = parser.get_event, events.ScalarEvent
    while True:
        event = get_event()
        kind = type(event)
        if kind is scalar_event:
            text = event.value  # text, the common case, without a call (400,000 events)
            if (event.anchor is None and event.tag is None and text and starts is not None
                    and (not event.implicit[0] or text[0] not in starts)):
                value = text
            else:
                value = _scalar(event, resolver, scalar, made, starts)
        elif kind is events.MappingStartEvent or kind is events.SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                raise _NotPlain
            stack.append([{} if kind is events.MappingStartEvent else [], None, False])
            continue
        elif kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
            value = stack.pop()[0]
        elif kind is events.DocumentStartEvent:
            documents += 1
            if documents > 1 or getattr(event, "version", None) is not None:
                raise _NotPlain
            continue
        elif kind is events.AliasEvent:
            raise _NotPlain
        elif kind is events.StreamEndEvent:
            return root
        else:
            continue
        if not stack:
            root = value
        else:
            _add(stack[-1], value)


def _scalar(event: Any, resolver: BaseResolver, scalar: Callable[[str], Any],
            made: dict[str, Any], starts: frozenset[str] | None) -> Any:
    if event.anchor is not None or event.tag is not None:
        raise _NotPlain
    text = event.value
    if not event.implicit[0] or (text and starts is not None and text[0] not in starts):
        return text  # quoted, or no implicit type starts so: what `resolve` would say
    found = resolver.resolve(ScalarNode, text, event.implicit)
    tag = getattr(found, "value", found)  # ruamel's Tag, or the text of one
    if tag == _STR:
        return event.value
    if tag not in _BUILT:
        raise _NotPlain  # a merge key, a value key ("="), a set...
    if event.value not in made:
        value = scalar(event.value)
        if isinstance(value, str):
            raise _NotPlain
        made[event.value] = value
    return made[event.value]


def _typed_starts(resolver: BaseResolver) -> frozenset[str] | None:
    """The first characters an implicitly typed plain scalar (a number, a boolean, null, a
    date...) can start with; a plain scalar starting otherwise is text. None: ask
    `resolve` for every scalar (path resolvers, or a type that may start with anything).
    Resolving each of 190,000 scalars of 10,000 stores was a fifth of reading them."""
    table = getattr(resolver, "versioned_resolver", None)
    if not isinstance(table, dict) or None in table or resolver.yaml_path_resolvers:
        return None
    return frozenset(key for key in table if isinstance(key, str))


def _add(top: list[Any], value: Any) -> None:
    container = top[0]
    if isinstance(container, list):
        container.append(value)
    elif not top[2]:
        if isinstance(value, dict | list):
            raise _NotPlain
        top[1], top[2] = value, True
    else:
        if top[1] in container:
            raise _NotPlain  # a duplicate key: the round-trip loader says where
        container[top[1]] = value
        top[2] = False
