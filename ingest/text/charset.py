"""Decoding HTML and text bytes into a string: BOM, HTTP charset, the page's own declaration, detection."""

from __future__ import annotations

import codecs
import re
from typing import Any

import charset_normalizer

from ingest.text.extraction import split_media_type

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels that browsers map to another encoding than Python does (WHATWG).
_LABEL_ALIASES = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "l1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252", "x-cp1251": "cp1251",
    "x-cp1252": "cp1252", "win-1251": "cp1251", "cp-1251": "cp1251", "x-mac-cyrillic": "mac-cyrillic",
    "x-sjis": "shift_jis", "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
}
_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.IGNORECASE
)
_XML_DECL = re.compile(rb"""^<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9_:.\-]+)""")
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)


def decode_html(data: bytes, http_charset: str | None) -> tuple[str, str, str]:
    """Decode HTML bytes; return (text, charset, source).

    Order: BOM, HTTP charset, the page's own declaration (an XML declaration,
    else <meta charset>/<meta http-equiv> in the first 8 KiB, source "meta"), valid UTF-8, charset-normalizer detection, UTF-8 with replacement.
    A declared charset that is unknown or cannot decode the bytes strictly is
    skipped. `http_charset` may be a bare charset or a Content-Type value.
    """
    text, charset, source, _notes = decode_html_notes(data, http_charset)
    return text, charset, source


def decode_html_notes(data: bytes, http_charset: str | None) -> tuple[str, str, str, dict]:
    notes: dict[str, Any] = {}
    bom = _decode_bom(data)
    if bom:
        return bom[0], bom[1], "bom", notes
    if http_charset and ("=" in http_charset or ";" in http_charset):
        http_charset = split_media_type(http_charset)[1]
    for source, label in (("http", http_charset), ("meta", _meta_charset(data))):
        if not label:
            continue
        if source == "meta" and _codec(label) in ("utf-16-le", "utf-16-be", "utf-16"):
            label = "utf-8"  # a page that is readable as ASCII is not UTF-16 (WHATWG)
        decoded = _decode_strict(data, label)
        if decoded is not None:
            return decoded[0], decoded[1], source, notes
        notes[f"{source}_charset_rejected"] = label
    return (*_decode_undeclared(data, notes), notes)


def decode_text_notes(data: bytes, declared: str | None) -> tuple[str, str, str, dict]:
    notes: dict[str, Any] = {}
    bom = _decode_bom(data)
    if bom:
        return bom[0], bom[1], "bom", notes
    if declared:
        decoded = _decode_strict(data, declared)
        if decoded is not None:
            return decoded[0], decoded[1], "http", notes
        notes["http_charset_rejected"] = declared
    return (*_decode_undeclared(data, notes), notes)


def _decode_undeclared(data: bytes, notes: dict) -> tuple[str, str, str]:
    try:
        return data.decode("utf-8"), "utf-8", "detected"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is not None and best.encoding:
        decoded = _decode_strict(data, best.encoding)
        if decoded is not None:
            notes["detector"] = f"charset-normalizer {charset_normalizer.__version__}"
            return decoded[0], decoded[1], "detected"
    text = data.decode("utf-8", errors="replace")
    notes["replacement_characters"] = text.count("\ufffd")
    return text, "utf-8", "default"


def _decode_bom(data: bytes) -> tuple[str, str] | None:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec), _iana(codec)
            except UnicodeDecodeError:
                return None
    return None


def _decode_strict(data: bytes, label: str) -> tuple[str, str] | None:
    codec = _codec(label)
    if codec is None:
        return None
    try:
        return data.decode(codec), _iana(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _codec(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    label = _LABEL_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # rot13, base64 and the like are not charsets
    return info.name


def _iana(codec: str) -> str:
    name = codecs.lookup(codec).name
    if name.startswith("cp125"):
        return "windows-" + name[2:]
    if name.startswith("iso8859-"):
        return "iso-8859-" + name[len("iso8859-"):]
    if name == "mac-cyrillic":
        return "x-mac-cyrillic"
    return name


def _meta_charset(data: bytes) -> str | None:
    """The page's own declaration: an XML declaration, else a <meta> tag."""
    m = _XML_DECL.match(data[:256].lstrip())
    if m:
        return m.group(1).decode("ascii")
    head = _COMMENT.sub(b"", data[:8192])
    m = _META_CHARSET.search(head)
    return m.group(1).decode("ascii") if m else None
