"""Decoding HTML and text bytes as a browser does (WHATWG Encoding Standard): BOM, HTTP charset, <meta>, detection.

Labels are resolved only through the standard's label table (webencodings): a label it does not
know (utf-7, unicode_escape, cp775, rot13 ...) is ignored, as browsers ignore it. A declared
encoding is never rejected for bytes it cannot decode: like a browser, the decoder puts U+FFFD
there, so the text is the text a reader of the page sees.
"""

from __future__ import annotations

import codecs
from importlib.metadata import version
from typing import Any

import charset_normalizer
import webencodings

from ingest.text.extraction import split_media_type
from ingest.text.prescan import prescan

DECODER = f"WHATWG Encoding Standard (webencodings {version('webencodings')})"
# The standard's BOMs: no UTF-32 (a browser reads FF FE 00 00 as UTF-16LE and a NUL).
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16be"), (codecs.BOM_UTF16_LE, "utf-16le"))
_MULTI_BYTE = {"utf-8", "utf-16le", "utf-16be", "gbk", "gb18030", "big5", "euc-jp", "iso-2022-jp",
               "shift_jis", "euc-kr", "replacement", "x-user-defined"}
# Python's codecs follow the vendors' tables; the standard's indexes differ in these few bytes
# (tests/test_charset.py compares every byte 0x80-0xFF with Chromium). In the windows-* encodings
# a byte Python leaves undefined in 0x80-0x9F is the C1 control of that value.
_INDEX_FIXES: dict[str, dict[int, str]] = {
    "windows-1255": {0xCA: "\u05ba"},
    "koi8-u": {0xAE: "\u045e", 0xBE: "\u040e"},
}
_TABLES: dict[str, str] = {}
_SJIS_SINGLE = {c: "\ufffd" for c in range(0xF8F0, 0xF8F4)}


def _gb18030_errors(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    if exc.object[exc.start] == 0x80:
        return "\u20ac", exc.start + 1
    return "\ufffd", exc.end


codecs.register_error("khronika-gb18030", _gb18030_errors)


def lookup(label: str | None) -> str | None:
    """The WHATWG encoding a label names ("cp1251" -> "windows-1251"), or None if the standard
    does not know the label."""
    if not label:
        return None
    found = webencodings.lookup(label)
    return found.name if found is not None else None


def serve_label(name: str) -> str:
    """A label that names encoding `name` to a browser (the name itself, when it is a label)."""
    if webencodings.LABELS.get(name) == name:
        return name
    return next((label for label, n in webencodings.LABELS.items() if n == name), name)


def decode(data: bytes, name: str) -> str:
    """Decode with the standard's decoder for encoding `name`, U+FFFD for undecodable bytes."""
    if name == "replacement":
        return "\ufffd" if data else ""  # the standard's "replacement" encoding: one error
    if name in ("gbk", "gb18030"):
        # The standard decodes GBK with its GB18030 decoder, which reads a lone 0x80 as the euro.
        return codecs.decode(data, "gb18030", "khronika-gb18030")
    if name in _MULTI_BYTE:
        enc = webencodings.lookup(name)
        assert enc is not None, name
        text = enc.codec_info.decode(data, "replace")[0]
        if name == "shift_jis":  # cp932 gives the single bytes A0, FD-FF private-use characters
            text = text.translate(_SJIS_SINGLE)
        return text
    return codecs.charmap_decode(data, "replace", _table(name))[0]


def _table(name: str) -> str:
    table = _TABLES.get(name)
    if table is None:
        enc = webencodings.lookup(name)
        assert enc is not None, name
        chars = []
        for byte in range(256):
            char = enc.codec_info.decode(bytes([byte]), "replace")[0]
            if char == "\ufffd" and name.startswith("windows-") and 0x80 <= byte <= 0x9F:
                char = chr(byte)
            chars.append(_INDEX_FIXES.get(name, {}).get(byte, char))
        table = _TABLES[name] = "".join(chars)
    return table


def decode_html(data: bytes, http_charset: str | None) -> tuple[str, str, str]:
    """Decode HTML bytes; return (text, WHATWG encoding name, source).

    Order, as the HTML Standard's encoding sniffing: a BOM ("bom"), the HTTP charset ("http"),
    the <meta> prescan of the first 1024 bytes or an XML declaration ("meta"), detection
    ("detected"), windows-1252 ("default"). `http_charset` may be a bare label or a Content-Type.
    """
    text, charset, source, _notes = decode_html_notes(data, http_charset)
    return text, charset, source


def decode_html_notes(data: bytes, http_charset: str | None) -> tuple[str, str, str, dict]:
    notes: dict[str, Any] = {}
    bom = _bom(data)
    if bom:
        return _done(decode(data[len(bom[1]):], bom[0]), bom[0], "bom", notes)
    http = _http(http_charset, notes)
    if http:
        return _done(decode(data, http), http, "http", notes)
    declared = prescan(data, lookup)
    if declared:
        if declared[1] != "meta":
            notes["declared_by"] = declared[1]
        return _done(decode(data, declared[0]), declared[0], "meta", notes)
    return _undeclared(data, notes)


def decode_text_notes(data: bytes, declared: str | None) -> tuple[str, str, str, dict]:
    """Decode text/* bytes: a BOM, the declared (HTTP) charset, then detection."""
    notes: dict[str, Any] = {}
    bom = _bom(data)
    if bom:
        return _done(decode(data[len(bom[1]):], bom[0]), bom[0], "bom", notes)
    http = _http(declared, notes)
    if http:
        return _done(decode(data, http), http, "http", notes)
    return _undeclared(data, notes)


def _http(value: str | None, notes: dict[str, Any]) -> str | None:
    if value and ("=" in value or ";" in value):
        value = split_media_type(value)[1]
    if not value:
        return None
    name = lookup(value)
    if name is None:
        notes["http_charset_ignored"] = f"{value} (not a label of the WHATWG Encoding Standard)"
    return name


def _bom(data: bytes) -> tuple[str, bytes] | None:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, bom
    return None


def _undeclared(data: bytes, notes: dict[str, Any]) -> tuple[str, str, str, dict]:
    try:
        return data.decode("utf-8"), "utf-8", "detected", notes
    except UnicodeDecodeError:
        pass
    # Only encodings a browser has can be detected: charset-normalizer picks among their codecs.
    web = {webencodings.lookup(n).codec_info.name: n for n in sorted(set(webencodings.LABELS.values()))  # type: ignore[union-attr]
           if n not in ("replacement", "x-user-defined", "utf-16le", "utf-16be")}
    best = charset_normalizer.from_bytes(data, cp_isolation=sorted(web)).best()
    if best is not None and best.encoding:
        name = web.get(codecs.lookup(best.encoding).name)
        if name is not None:
            notes["detector"] = f"charset-normalizer {charset_normalizer.__version__}"
            return _done(decode(data, name), name, "detected", notes)
    return _done(decode(data, "windows-1252"), "windows-1252", "default", notes)


def _done(text: str, name: str, source: str, notes: dict[str, Any]) -> tuple[str, str, str, dict]:
    if "\ufffd" in text:
        notes["replacement_characters"] = text.count("\ufffd")
    return text, name, source, notes
