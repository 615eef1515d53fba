"""Reading RFC 6690 link-format (a Memento TimeMap) and RFC 8288 Link headers, strictly and within limits.

Written here rather than taken from a library: the few that exist read a whole document with
regular expressions, accept anything, and stop at no size; a TimeMap comes from someone else's
server and must be refused plainly, with where it went wrong, when it is malformed or too large.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINKS = 100_000  # entries of one TimeMap (or one Link header)
MAX_URI = 8192  # characters of one target URI
MAX_PARAMS = 32  # parameters of one link
MAX_VALUE = 8192  # characters of one parameter value

_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SPACE = " \t\r\n"


class LinkFormatError(ValueError):
    """A document that is not link-format, or is over a limit; the message says where."""


@dataclass(frozen=True)
class Link:
    target: str
    params: tuple[tuple[str, str], ...]  # (name lower-cased, value), in order

    def param(self, name: str) -> str | None:
        for k, v in self.params:
            if k == name:
                return v
        return None

    @property
    def rels(self) -> tuple[str, ...]:
        """The relation types, lower-cased (rel="first memento" names two)."""
        return tuple((self.param("rel") or "").lower().split())


def _where(text: str, i: int) -> str:
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return f"line {line}, column {col}"


class _Reader:
    def __init__(self, text: str, max_links: int) -> None:
        self.text, self.i, self.max_links = text, 0, max_links

    def fail(self, what: str) -> LinkFormatError:
        found = self.text[self.i:self.i + 1]
        seen = f"found {found!r}" if found else "found the end"
        return LinkFormatError(f"{_where(self.text, self.i)}: {what}, {seen}")

    def skip_space(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _SPACE:
            self.i += 1

    def links(self) -> list[Link]:
        out: list[Link] = []
        self.skip_space()
        while self.i < len(self.text):
            if len(out) >= self.max_links:
                raise LinkFormatError(f"more than {self.max_links} links (limit): not read further")
            out.append(self.link())
            self.skip_space()
            if self.i < len(self.text):
                if self.text[self.i] != ",":
                    raise self.fail("expected ',' between links")
                self.i += 1
                self.skip_space()
                if self.i >= len(self.text):
                    break  # a trailing comma, as some archives write
        return out

    def link(self) -> Link:
        if self.text[self.i] != "<":
            raise self.fail("expected '<' to open a link target")
        end = self.text.find(">", self.i + 1)
        if end < 0:
            raise self.fail("a link target opened with '<' is never closed with '>'")
        target = self.text[self.i + 1:end]
        if len(target) > MAX_URI:
            raise LinkFormatError(f"{_where(self.text, self.i)}: link target of {len(target)} characters, "
                                  f"over {MAX_URI}")
        if not target or any(c in target for c in "<\n\r\t ") or any(ord(c) < 32 for c in target):
            raise LinkFormatError(f"{_where(self.text, self.i)}: link target {target[:80]!r} is empty or holds "
                                  "white space, '<' or a control character")
        self.i = end + 1
        params: list[tuple[str, str]] = []
        while True:
            self.skip_space()
            if self.i >= len(self.text) or self.text[self.i] == ",":
                return Link(target, tuple(params))
            if self.text[self.i] != ";":
                raise self.fail("expected ';' before a parameter or ',' after a link")
            self.i += 1
            self.skip_space()
            if len(params) >= MAX_PARAMS:
                raise LinkFormatError(f"{_where(self.text, self.i)}: more than {MAX_PARAMS} parameters on one link")
            params.append(self.param())

    def param(self) -> tuple[str, str]:
        start = self.i
        while self.i < len(self.text) and self.text[self.i] in _TOKEN:
            self.i += 1
        name = self.text[start:self.i].lower()
        if not name:
            raise self.fail("expected a parameter name")
        self.skip_space()
        if self.i >= len(self.text) or self.text[self.i] != "=":
            return name, ""  # a parameter without a value
        self.i += 1
        self.skip_space()
        if self.i < len(self.text) and self.text[self.i] == '"':
            return name, self.quoted()
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in ";," + _SPACE:
            self.i += 1
        value = self.text[start:self.i]
        if not value:
            raise self.fail(f"expected a value for parameter {name!r}")
        if len(value) > MAX_VALUE:
            raise LinkFormatError(f"{_where(self.text, start)}: value of {name!r} over {MAX_VALUE} characters")
        return name, value

    def quoted(self) -> str:
        start = self.i
        self.i += 1
        out: list[str] = []
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\\" and self.i + 1 < len(self.text):
                self.i += 1
                c = self.text[self.i]
            out.append(c)
            if len(out) > MAX_VALUE:
                raise LinkFormatError(f"{_where(self.text, start)}: quoted value over {MAX_VALUE} characters")
            self.i += 1
        self.i = start
        raise self.fail("a quoted value is never closed")


def parse(data: bytes | str, max_links: int = MAX_LINKS) -> list[Link]:
    """Every link of a link-format document (or a Link header's value), in order."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LinkFormatError(f"not UTF-8 text (byte {exc.start}): not a link-format document") from None
    if "\x00" in data:
        raise LinkFormatError(f"{_where(data, data.index(chr(0)))}: a NUL character: not a link-format document")
    return _Reader(data, max_links).links()
