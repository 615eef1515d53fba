"""Archived copies as the site serves them: the bytes, the extracted and OCR texts, a PDF page as an image."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from ingest.site.web import HEX64, LATEST_EXTRACTION, NotFound, archive_root, one
from ingest.text.charset import serve_label
from ingest.text.ocr import OcrUnavailable, PageFailed, pdftoppm_version, render_page

# Media types the archive route may answer with; anything else is offered as a download.
INLINE = {"text/html", "text/plain", "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"}
AS_TEXT = {"application/yaml", "application/x-yaml", "text/yaml", "application/json", "text/csv", "text/markdown"}
# Sandboxed wherever it is shown; only Khronika's own copy page may frame it.
ARCHIVE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


async def archived_file(datasette: Any, blake3: str, db_path: str | None) -> tuple[bytes, dict[str, str], str]:
    """The archived bytes, their response headers and content type; NotFound for anything else."""
    if not isinstance(blake3, str) or not HEX64.match(blake3):
        raise NotFound("not a BLAKE3 hash")
    row = await one(datasette, "SELECT blake3, sha256, media_type FROM files WHERE blake3 = ?", [blake3])
    if row is None:
        raise NotFound("no such file in the archive")
    files = archive_root(db_path) / "files"
    path = files / blake3[:2] / blake3  # built only from the validated hash
    try:
        data = path.read_bytes()
    except OSError:
        raise NotFound("the archived file is missing") from None
    # Served in the encoding the text was extracted in, so a reader sees the words the quote
    # was found in (a page whose charset is only in its <meta> would otherwise be read as UTF-8).
    decoded = await one(datasette, "SELECT charset FROM extractions WHERE blake3 = ? AND charset IS NOT NULL "
                                   "ORDER BY id DESC LIMIT 1", [blake3])
    media = (row["media_type"] or "application/octet-stream").split(";")[0].strip().lower()
    headers = {
        "X-Khronika-BLAKE3": blake3,
        "X-Khronika-SHA256": row["sha256"],
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": ARCHIVE_CSP,
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    charset = serve_label(decoded["charset"]) if decoded else None
    if charset is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", charset):
        charset = None
    if media in AS_TEXT:
        media = "text/plain"
    if media not in INLINE:
        content_type = "application/octet-stream"
        headers["Content-Disposition"] = f'attachment; filename="{blake3}"'
    elif media == "application/pdf":
        content_type = media
        headers["Content-Disposition"] = f'attachment; filename="{blake3}.pdf"'
    elif media.startswith("text/"):
        content_type = f"{media}; charset={charset or 'utf-8'}"
    else:
        content_type = media
    return data, headers, content_type


async def extracted_text(datasette: Any, blake3: str, extraction: str | None = None) -> tuple[str, dict[str, str]]:
    """The newest extracted text of a file, or with `extraction` that extraction's (an OCR text)."""
    if not isinstance(blake3, str) or not HEX64.match(blake3):
        raise NotFound("not a BLAKE3 hash")
    if extraction is not None:
        if not extraction.isdigit():
            raise NotFound("not an extraction id")
        ex = await one(datasette, "SELECT * FROM extractions WHERE blake3 = ? AND id = ? AND text IS NOT NULL",
                       [blake3, int(extraction)])
    else:
        ex = await one(datasette, LATEST_EXTRACTION, [blake3])
    if ex is None:
        raise NotFound("no extracted text for this file")
    return ex["text"], {
        "X-Khronika-BLAKE3": blake3,
        "X-Khronika-Text-BLAKE3": ex["text_blake3"] or "",
        "X-Khronika-Extraction": str(ex["id"]),
        "X-Khronika-Extractor": f"{ex['extractor']} {ex['extractor_version']}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": ARCHIVE_CSP,
    }


PAGE_IMAGE_SIDE = 2000  # pixels on the long side: enough to read a page, bounded whatever its size


async def page_image(datasette: Any, blake3: str, page: str, db_path: str | None) -> tuple[bytes, dict[str, str]]:
    """Page `page` of an archived PDF rendered as a PNG (what OCR read, for a reader to compare)."""
    data, headers, content_type = await archived_file(datasette, blake3, db_path)
    if content_type != "application/pdf":
        raise NotFound("not a PDF: its archived copy is the image")
    pages = await one(datasette, "SELECT max(page_count) AS n FROM extractions WHERE blake3 = ?", [blake3])
    if not page.isdigit() or not 1 <= int(page) <= ((pages or {}).get("n") or 0):
        raise NotFound("no such page in this PDF")
    try:
        png = await asyncio.to_thread(render_page, data, int(page), PAGE_IMAGE_SIDE)
        tool = pdftoppm_version()
    except (OcrUnavailable, PageFailed) as exc:
        raise NotFound(f"the page cannot be rendered: {exc}") from None
    headers = {k: v for k, v in headers.items() if k != "Content-Disposition"}
    headers["X-Khronika-Rendered"] = f"page {page} by {tool}, {PAGE_IMAGE_SIDE} px on the long side, gray"
    return png, headers
