"""Which archived files only OCR can read: the OCR jobs for them, or what --no-ocr records instead."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from ingest.text.extraction import Extraction
from ingest.text.ocr import disabled
from ingest.text.workers import Job

# The newest successful text-layer extraction of each PDF that has pages without text.
_TEXTLESS_PDFS = """
    SELECT e.blake3, e.pages, f.media_type FROM extractions e JOIN files f ON f.blake3 = e.blake3
    WHERE e.extractor = 'pypdf' AND e.error IS NULL AND e.pages IS NOT NULL
      AND e.id = (SELECT max(id) FROM extractions WHERE blake3 = e.blake3 AND extractor = 'pypdf' AND error IS NULL)
    ORDER BY e.id"""


def ocr_jobs(db: Any, path_of: Callable[[str], str], version: Callable[[], str], enabled: bool,
             done: set[tuple[str, str, str]], record: Callable[[str, Extraction], None]) -> Iterator[Job]:
    """OCR jobs for the PDFs whose text layer misses pages; with OCR disabled, record that instead.
    `version` gives Tesseract's, asked only when a PDF has such pages (it runs Tesseract)."""
    for blake3, pages_json, media_type in db.execute(_TEXTLESS_PDFS).fetchall():
        textless = sum(1 for p in json.loads(pages_json) if not p["has_text"])
        if not textless:
            continue
        if not enabled:
            skip_ocr(db, blake3, record)
            continue
        if (blake3, "tesseract", version()) in done:
            continue
        yield Job(blake3, path_of(blake3), media_type or "application/pdf", ocr_pages=True, pages=textless)


def skip_ocr(db: Any, blake3: str, record: Callable[[str, Extraction], None]) -> None:
    """Record once that a file only OCR could read was not OCR'd because OCR is disabled; a file
    OCR'd by an earlier run keeps that text."""
    if db.execute("SELECT 1 FROM extractions WHERE blake3 = ? AND extractor = 'tesseract'", [blake3]).fetchone() is None:
        record(blake3, disabled())
