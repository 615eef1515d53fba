"""Reading YAML strictly: anchors, aliases and tags refused before anything is built, every
scalar kept as a string, every value with its line (for errors naming file, line and key path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

MAX_DEPTH = 12
# libyaml's parser when PyYAML was built with it: the same events and marks, about ten times
# faster, which decides how long a run over an unchanged archive takes. A file it rejects is
# parsed again by the pure-Python parser, whose syntax-error wording is the one users see.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message


def compose(text: str) -> yaml.Node | None:
    try:
        check_events(text, _FAST_LOADER)
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
    check_events(text, yaml.SafeLoader)
    return yaml.compose(text, Loader=yaml.SafeLoader)


def check_events(text: str, loader: type = yaml.SafeLoader) -> None:
    """Refuse anchors, aliases and explicit tags before anything is composed."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise Refused(line, f'YAML alias "*{event.anchor}" is not allowed in case files')
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise Refused(line, f'YAML anchor "&{anchor}" is not allowed in case files')
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            raise Refused(line, f'YAML tag "{tag}" is not allowed in case files')
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise Refused(line, f"nesting deeper than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


@dataclass
class Node:
    """A composed YAML value with its line: str, list or dict of Node, or None."""

    value: Any
    line: int


def convert(node: yaml.Node, path: str, errors: list[tuple[int, str, str]]) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and node.value in ("", "~", "null", "Null", "NULL"):
            return Node(None, line)
        return Node(node.value, line)
    if isinstance(node, yaml.SequenceNode):
        return Node(
            [convert(item, f"{path}.{i}" if path else str(i), errors) for i, item in enumerate(node.value)],
            line,
        )
    assert isinstance(node, yaml.MappingNode)
    out: dict[str, Node] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            errors.append((key_line, path, "mapping keys must be plain strings"))
            continue
        key = key_node.value
        sub = f"{path}.{key}" if path else key
        if key in out:
            errors.append((key_line, sub, f'duplicate key "{key}" (first on line {out[key].line})'))
            continue
        child = convert(value_node, sub, errors)
        out[key] = Node(child.value, key_line) if child.value is None else child
    return Node(out, line)
