"""Text from case files, sources and bags made safe to show: control and bidi characters made visible.

A source's title or a URL is written by someone else. Printed raw, `\\x1b]0;...\\x07` sets the
terminal's title, `\\r` overwrites the line before it ("35 checks: 35 ok"), and U+202E reverses
what follows, so that a URL or a file name reads as another. Every such character is shown as
an escape instead, on the terminal and on the site's pages; the data itself is never changed.
"""

from __future__ import annotations

import re

# Unicode's Bidi_Control characters: the marks, embeddings, overrides and isolates.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 and C1 controls, DEL, the line and paragraph separators, and the bidi controls.
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def _mark(ch: str) -> str:
    return f"<U+{ord(ch):04X}>"


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in BIDI_CONTROLS:
        return _mark(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def for_terminal(text: object) -> str:
    """`text` with every control character escaped (`\\x1b`, `\\r`) and bidi controls shown as `<U+202E>`."""
    return _UNSAFE.sub(_escape, str(text))


def bidi_visible(text: str, html: bool = False) -> str:
    """`text` with its bidi controls shown as `<U+202E>` marks instead of applied (for pages);
    with html=True the text is already HTML and the marks are written escaped."""
    if html:
        return _BIDI.sub(lambda m: f"&lt;U+{ord(m.group()):04X}&gt;", text)
    return _BIDI.sub(lambda m: _mark(m.group()), text)


def href(url: str) -> str:
    """A link target with its bidi controls percent-encoded: the same address, nothing to apply."""
    return _BIDI.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), url)


def json_for_terminal(text: str) -> str:
    """A JSON document written with ensure_ascii=False, with what JSON leaves raw escaped as \\uXXXX.

    JSON escapes only U+0000-U+001F; DEL, the C1 controls, the separators and the bidi controls
    may only occur inside strings, where \\uXXXX means the same character: the parsed data is
    unchanged, but the terminal shows the escape."""
    return re.sub(f"[\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}]", lambda m: f"\\u{ord(m.group()):04x}", text)
