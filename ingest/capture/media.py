"""Media types: what archived bytes are, whatever a server or a file name claims."""

from __future__ import annotations

import codecs
import re

_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x1f\x8b", "application/gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
]
# Formats that are zip or gzip containers: keep the more specific declared type.
_CONTAINER_PREFIXES = (
    "application/vnd.",
    "application/java-archive",
    "application/x-gzip",
    "application/x-tar",
    "application/gzip",
)
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html|head|body)(?=[\s>/])", re.IGNORECASE)
_SKIP = re.compile(rb"\s*(?:<!--.*?-->|<\?.*?\?>)?\s*", re.DOTALL)


def _looks_like_html(data: bytes) -> bool:
    head = data[:1024]
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    pos = 0
    while True:  # skip whitespace, comments and <?xml ...?> before the first tag
        m = _SKIP.match(head, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
    return _HTML_START.match(head, pos) is not None


def _is_utf8_text(data: bytes) -> bool:
    sample = data[: 64 * 1024]
    if b"\x00" in sample:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(data) <= len(sample))
    except UnicodeDecodeError:
        return False
    return True


def sniff_media_type(data: bytes, declared: str | None) -> str:
    """Media type of `data`: magic numbers, then HTML, then `declared`, then text/plain."""
    declared = (declared or "").strip().lower() or None
    for magic, media in _MAGIC:
        if data.startswith(magic):
            if media in ("application/zip", "application/gzip") and declared and (
                declared.endswith("+zip") or declared.startswith(_CONTAINER_PREFIXES)
            ):
                return declared
            return media
    if declared not in ("application/xhtml+xml", "image/svg+xml") and _looks_like_html(data):
        return "text/html"
    if declared and declared != "application/octet-stream":
        return declared
    if data and _is_utf8_text(data):
        return "text/plain"
    return "application/octet-stream"
