"""Reading YAML strictly: anchors, aliases and tags refused before anything is built, every
scalar kept as a string, every value with its line (for errors naming file, line and key path).

The tree is built straight from the parser's events in one pass: PyYAML's composer would make
a node tree first and resolve every scalar's type, which a case file (all strings) never uses,
and which at a few thousand sources is most of an unchanged run's time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

MAX_DEPTH = 12
# libyaml's parser when PyYAML was built with it: the same events and marks, about ten times
# faster, which decides how long a run over an unchanged archive takes. A file it rejects is
# parsed again by the pure-Python parser, whose syntax-error wording is the one users see.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULLS = ("", "~", "null", "Null", "NULL")

Problems = list[tuple[int, str, str]]  # (line, key path, message): structural errors found while building


class Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message


@dataclass(slots=True)  # slots: one per scalar of a case file, thousands at once
class Node:
    """A YAML value with its line: str, list or dict of Node, or None."""

    value: Any
    line: int


def read(text: str) -> tuple[Node | None, Problems]:
    """The document's tree (None for a stream with no document) and the structural problems
    (non-string keys, duplicate keys). Raises Refused, or yaml.YAMLError for a syntax error."""
    try:
        return _read(text, _FAST_LOADER)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
    return _read(text, yaml.SafeLoader)


def _read(text: str, loader: type) -> tuple[Node | None, Problems]:
    events = _checked(yaml.parse(text, Loader=loader))
    problems: Problems = []
    next(events)  # StreamStartEvent
    event = next(events)
    if isinstance(event, yaml.StreamEndEvent):
        return None, problems
    start = event.start_mark  # DocumentStartEvent
    root = _build(events, next(events), "", problems)
    next(events)  # DocumentEndEvent
    event = next(events)
    if not isinstance(event, yaml.StreamEndEvent):
        for _ in events:  # a refusal anywhere in the stream is reported before this
            pass
        raise yaml.composer.ComposerError("expected a single document in the stream", start,
                                          "but found another document", event.start_mark)
    return root, problems


def _checked(events: Iterator[yaml.Event]) -> Iterator[yaml.Event]:
    """The events, each refused if it is an alias, has an anchor or a tag, or nests too deep."""
    depth = 0
    for event in events:
        kind = type(event)
        if kind is yaml.AliasEvent:
            raise Refused(event.start_mark.line + 1, f'YAML alias "*{event.anchor}" is not allowed in case files')
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise Refused(event.start_mark.line + 1, f'YAML anchor "&{anchor}" is not allowed in case files')
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            raise Refused(event.start_mark.line + 1, f'YAML tag "{tag}" is not allowed in case files')
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            depth += 1
            if depth > MAX_DEPTH:
                raise Refused(event.start_mark.line + 1, f"nesting deeper than {MAX_DEPTH} levels")
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            depth -= 1
        yield event


def _build(events: Iterator[yaml.Event], event: yaml.Event, path: str, problems: Problems) -> Node:
    """The value that starts with `event`, its later events read from `events` (depth is bounded
    by _checked, so the recursion is too)."""
    line = event.start_mark.line + 1
    kind = type(event)
    if kind is yaml.ScalarEvent:
        if not event.style and event.value in _NULLS:  # plain: libyaml says "", PyYAML None
            return Node(None, line)
        return Node(event.value, line)
    if kind is yaml.SequenceStartEvent:
        items: list[Node] = []
        for event in events:
            if type(event) is yaml.SequenceEndEvent:
                return Node(items, line)
            items.append(_build(events, event, f"{path}.{len(items)}" if path else str(len(items)), problems))
    out: dict[str, Node] = {}  # a MappingStartEvent
    for event in events:
        if type(event) is yaml.MappingEndEvent:
            break
        key_line = event.start_mark.line + 1
        if type(event) is not yaml.ScalarEvent:
            problems.append((key_line, path, "mapping keys must be plain strings"))
            _build(events, event, path, [])  # the key and its value are read past, not looked into
            _build(events, next(events), path, [])
            continue
        key = event.value
        sub = f"{path}.{key}" if path else key
        if key in out:
            problems.append((key_line, sub, f'duplicate key "{key}" (first on line {out[key].line})'))
            _build(events, next(events), sub, [])
            continue
        child = _build(events, next(events), sub, problems)
        out[key] = Node(child.value, key_line) if child.value is None else child
    return Node(out, line)
