"""The archived copy as a Khronika page: what it is (source, capture times, hashes, links to the
raw bytes and each WARC record) around a sandboxed frame of the copy itself, and the WARC record
of a capture served on its own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ingest.site.passages import context
from ingest.site.web import HEX64, NotFound, archive_root, one, rows
from ingest.text.extraction import PDF_TYPES

WARC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}\.warc\.gz\Z")
FRAMED = ("text/html", "text/plain", "image/png", "image/jpeg", "image/gif", "image/webp")


async def copy_page(datasette: Any, blake3: str, citation: str | None) -> dict[str, Any]:
    if not isinstance(blake3, str) or not HEX64.match(blake3):
        raise NotFound("not a BLAKE3 hash")
    file = await one(datasette, "SELECT * FROM files WHERE blake3 = ?", [blake3])
    if file is None:
        raise NotFound("no such file in the archive")
    captures = await rows(datasette, """
        SELECT c.id, c.version, c.captured_at, c.method, c.url, c.final_url, c.status, c.warc_file, c.warc_offset,
               c.warc_length, c.tool, s.id AS source_id, s.title AS source_title, s.case_id
        FROM captures c JOIN sources s ON s.id = c.source_id WHERE c.blake3 = ? ORDER BY c.captured_at, c.id""", [blake3])
    media = (file["media_type"] or "").split(";")[0].strip().lower()
    quote = None
    if citation:
        ci = await one(datasette, "SELECT * FROM citations WHERE id = ? AND blake3 = ?", [citation[:300], blake3])
        if ci is not None and ci["match"] in ("exact", "normalized") and ci["extraction_id"] is not None:
            ex = await one(datasette, "SELECT text FROM extractions WHERE id = ?", [ci["extraction_id"]])
            if ex and ex["text"] is not None:
                quote = {"citation": ci, "passage": context(ex["text"], ci["start"], ci["end"])}
    return {"file": file, "captures": captures, "media": media, "quote": quote,
            "framed": media in FRAMED, "pdf": media in PDF_TYPES}


async def warc_record(datasette: Any, capture_id: str, db_path: str | None) -> tuple[bytes, dict[str, str]]:
    """A capture's WARC record (one gzip member, itself a valid .warc.gz), byte for byte as written."""
    if not capture_id.isdigit():
        raise NotFound("not a capture number")
    cap = await one(datasette, "SELECT warc_file, warc_offset, warc_length, blake3 FROM captures WHERE id = ?",
                    [int(capture_id)])
    if cap is None or not cap["warc_file"] or cap["warc_offset"] is None or not cap["warc_length"]:
        raise NotFound("this capture has no WARC record")
    if not WARC_NAME.match(cap["warc_file"]):
        raise NotFound("the WARC file's recorded name is not a WARC file name")
    path = archive_root(db_path) / "warc" / cap["warc_file"]  # a plain name, checked above
    try:
        with Path(path).open("rb") as fh:
            fh.seek(cap["warc_offset"])
            data = fh.read(cap["warc_length"])
    except OSError:
        raise NotFound("the WARC file is missing") from None
    if len(data) != cap["warc_length"]:
        raise NotFound("the WARC file is shorter than the recorded record")
    name = f"{cap['warc_file'].removesuffix('.warc.gz')}-{cap['warc_offset']}.warc.gz"
    return data, {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Khronika-WARC-File": cap["warc_file"],
        "X-Khronika-WARC-Offset": str(cap["warc_offset"]),
        "X-Khronika-WARC-Length": str(cap["warc_length"]),
        "X-Khronika-BLAKE3": cap["blake3"] or "",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
