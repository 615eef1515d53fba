"""The `extractions` row of an Extraction, as the log and the database keep it (its text beside it, not logged)."""

from __future__ import annotations

from typing import Any

from ingest.store import db as dbm
from ingest.store.log import utcnow
from ingest.text.extraction import Extraction


def extraction_row(eid: int, blake3: str, ex: Extraction) -> dict[str, Any]:
    return {
        "id": eid, "blake3": blake3, "extractor": ex.extractor, "extractor_version": ex.extractor_version,
        "options": dbm.dumps(ex.options), "text_blake3": ex.text_blake3,
        "text_length": len(ex.text) if ex.text is not None else None,
        "title": ex.title, "author": ex.author, "date": ex.date, "sitename": ex.sitename,
        "language": ex.language, "charset": ex.charset, "charset_source": ex.charset_source,
        "page_count": ex.page_count,
        "pages": dbm.dumps([vars(p) if not isinstance(p, dict) else p for p in ex.pages]) if ex.pages is not None else None,
        "has_text_layer": None if ex.has_text_layer is None else int(ex.has_text_layer),
        "metadata": dbm.dumps(ex.metadata) if ex.metadata else None,
        "error": ex.error, "extracted_at": utcnow(), "blocks": dbm.dumps(ex.blocks),
    }
