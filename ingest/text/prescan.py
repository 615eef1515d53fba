"""The HTML Standard's prescan: the encoding a page's <meta> (or XML declaration) declares.

Written here, step by step after the standard ("prescan a byte stream to determine its
encoding", "get an attribute", "extracting a character encoding from a meta element", "get an
XML encoding"), because no well-kept Python library exposes it: html5lib's copy is private API.
Labels are resolved by `lookup`, the standard's own label table (webencodings).
"""

from __future__ import annotations

import re
from collections.abc import Callable

PRESCAN_BYTES = 1024  # how far browsers look (the standard's advice, and Chromium's)
_SPACE = b"\t\n\x0c\r "
_FAILURE = "failure"  # "get an encoding" failed: an unknown label, which is then ignored

_BODY = re.compile(rb"<body[\t\n\x0c\r />]", re.IGNORECASE)
Lookup = Callable[[str], "str | None"]


def prescan(data: bytes, lookup: Lookup) -> tuple[str, str] | None:
    """(WHATWG encoding name, how it was declared) by the page itself, or None.

    The standard's prescan of the first 1024 bytes ("meta", or "xml declaration"); failing
    that, a <meta> further on inside <head>, which Chromium honours however long the head is
    ("meta after the first 1024 bytes, in <head>"): old pages put long scripts before it.
    """
    head = data[:PRESCAN_BYTES]
    if head.startswith(b"<\x00?\x00x\x00"):
        return "utf-16le", "xml declaration"
    if head.startswith(b"\x00<\x00?\x00x"):
        return "utf-16be", "xml declaration"
    found = _scan(head, lookup)
    if found is not None:
        return found, "meta"
    xml = _xml_encoding(head, lookup)
    if xml is not None:
        return xml, "xml declaration"
    body = _BODY.search(data, PRESCAN_BYTES)
    if len(data) > PRESCAN_BYTES and body is not None:
        late = _scan(data[:body.start()], lookup)
        if late is not None:
            return late, "meta after the first 1024 bytes, in <head>"
    return None


def _scan(b: bytes, lookup: Lookup) -> str | None:
    pos, n = 0, len(b)
    while pos < n:
        if b.startswith(b"<!--", pos):
            end = b.find(b"-->", pos + 2)  # "<!-->" closes too: the dashes may be the opening ones
            if end == -1:
                return None
            pos = end + 3
            continue
        if b[pos:pos + 5].lower() == b"<meta" and pos + 5 < n and b[pos + 5] in _SPACE + b"/":
            pos, charset = _meta(b, pos + 5, lookup)
            if charset is not None:
                return charset
            continue
        if b[pos:pos + 1] == b"<" and pos + 1 < n and (
                _alpha(b[pos + 1]) or (b[pos + 1] == 0x2F and pos + 2 < n and _alpha(b[pos + 2]))):
            pos += 1
            while pos < n and b[pos] not in _SPACE + b">":
                pos += 1
            while True:
                attr, pos = _attribute(b, pos)
                if attr is None:
                    break
            pos += 1
            continue
        if b[pos:pos + 2] in (b"<!", b"</", b"<?"):
            end = b.find(b">", pos + 1)
            if end == -1:
                return None
            pos = end + 1
            continue
        pos += 1
    return None


def _meta(b: bytes, pos: int, lookup: Lookup) -> tuple[int, str | None]:
    """Steps for a <meta> tag from just after "<meta"; (position after it, encoding or None)."""
    seen: set[str] = set()
    got_pragma, need_pragma, charset = False, None, None
    while True:
        attr, pos = _attribute(b, pos)
        if attr is None:
            break
        name, value = attr
        if name in seen:
            continue
        seen.add(name)
        if name == "http-equiv" and value == "content-type":
            got_pragma = True
        elif name == "content" and charset is None:
            label = _charset_in_content(value)
            if label is not None:
                charset, need_pragma = (lookup(label) or _FAILURE), True
        elif name == "charset":
            charset, need_pragma = (lookup(value) or _FAILURE), False
    pos += 1
    if need_pragma is None or (need_pragma and not got_pragma) or charset in (None, _FAILURE):
        return pos, None
    if charset in ("utf-16le", "utf-16be"):
        charset = "utf-8"  # a page readable as ASCII to find this is not UTF-16
    elif charset == "x-user-defined":
        charset = "windows-1252"
    return pos, charset


def _attribute(b: bytes, pos: int) -> tuple[tuple[str, str] | None, int]:
    """"Get an attribute": ((name, value) or None, position after it)."""
    n = len(b)
    while pos < n and b[pos] in _SPACE + b"/":
        pos += 1
    if pos >= n or b[pos] == 0x3E:
        return None, pos
    name, value = bytearray(), bytearray()
    while True:
        if pos >= n:
            return None, pos
        c = b[pos]
        if c == 0x3D and name:
            pos += 1
            break
        if c in _SPACE:
            while pos < n and b[pos] in _SPACE:
                pos += 1
            if pos >= n or b[pos] != 0x3D:
                return (_iso(name), ""), pos
            pos += 1
            break
        if c in b"/>":
            return (_iso(name), ""), pos
        name.append(_lower(c))
        pos += 1
    while pos < n and b[pos] in _SPACE:
        pos += 1
    if pos >= n:
        return None, pos
    c = b[pos]
    if c in b"\"'":
        end = b.find(bytes([c]), pos + 1)
        if end == -1:
            return None, n
        return (_iso(name), _iso(bytearray(_lower(x) for x in b[pos + 1:end]))), end + 1
    if c == 0x3E:
        return (_iso(name), ""), pos
    while pos < n and b[pos] not in _SPACE + b">":
        value.append(_lower(b[pos]))
        pos += 1
    if pos >= n:
        return None, pos
    return (_iso(name), _iso(value)), pos


def _charset_in_content(value: str) -> str | None:
    """"Extracting a character encoding from a meta element" (content="text/html; charset=X")."""
    pos = 0
    while True:
        at = value.find("charset", pos)
        if at == -1:
            return None
        pos = at + 7
        while pos < len(value) and value[pos] in "\t\n\x0c\r ":
            pos += 1
        if pos < len(value) and value[pos] == "=":
            break
    pos += 1
    while pos < len(value) and value[pos] in "\t\n\x0c\r ":
        pos += 1
    if pos >= len(value):
        return None
    if value[pos] in "\"'":
        end = value.find(value[pos], pos + 1)
        return value[pos + 1:end] if end != -1 else None
    end = pos
    while end < len(value) and value[end] not in "\t\n\x0c\r ;":
        end += 1
    return value[pos:end]


def _xml_encoding(b: bytes, lookup: Lookup) -> str | None:
    """"Get an XML encoding": the encoding="..." of a leading <?xml declaration."""
    if not b.startswith(b"<?xml"):
        return None
    end = b.find(b">", 5)
    if end == -1:
        return None
    at = b.lower().find(b"encoding", 5, end)
    if at == -1:
        return None
    pos = at + 8
    while pos < end and b[pos] <= 0x20:
        pos += 1
    if pos >= end or b[pos] != 0x3D:
        return None
    pos += 1
    while pos < end and b[pos] <= 0x20:
        pos += 1
    if pos >= end or b[pos] not in b"\"'":
        return None
    close = b.find(bytes([b[pos]]), pos + 1, end)
    if close == -1:
        return None
    label = b[pos + 1:close]
    if any(x <= 0x20 for x in label):
        return None
    found = lookup(_iso(bytearray(label)))
    return "utf-8" if found in ("utf-16le", "utf-16be") else found


def _alpha(c: int) -> bool:
    return 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _lower(c: int) -> int:
    return c + 0x20 if 0x41 <= c <= 0x5A else c


def _iso(data: bytearray) -> str:
    return bytes(data).decode("latin-1")  # "isomorphic decode": each byte one code point
