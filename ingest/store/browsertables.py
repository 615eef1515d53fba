"""The browser capture tables' schema (browser_captures, marked_screenshots), part of `db.SCHEMA`."""

from __future__ import annotations

from typing import Any

BROWSER_SCHEMA: dict[str, dict[str, Any]] = {
    "browser_captures": dict(  # logged: a page rendered in Chromium behind the recording proxy (capture/browser)
        columns={"id": int, "source_id": str, "attempt_id": int, "capture_id": int, "url": str, "final_url": str,
                 "status": int, "outcome": str, "reason": str, "started_at": str, "browser": str, "tool": str,
                 "dom_blake3": str, "screenshot_blake3": str, "pdf_blake3": str, "provenance_blake3": str,
                 "screenshot_height": int, "page_height": int, "screenshot_cut": int, "exchanges": int,
                 "failures": str, "warc_file": str, "warc_offset": int},
        pk="id",
        foreign_keys=[("source_id", "sources", "id"), ("attempt_id", "attempts", "id"), ("capture_id", "captures", "id"),
                      ("dom_blake3", "files", "blake3"), ("screenshot_blake3", "files", "blake3"),
                      ("pdf_blake3", "files", "blake3"), ("provenance_blake3", "files", "blake3")],
    ),
    "marked_screenshots": dict(  # logged: a browser-anchored passage boxed in its rendered page (claims/marked)
        columns={"id": int, "citation_id": str, "capture_id": int, "exact": str, "blake3": str, "boxes": str,
                 "clip": str, "served": str, "refused": str, "error": str, "tool": str, "made_at": str},
        pk="id", foreign_keys=[("capture_id", "captures", "id"), ("blake3", "files", "blake3")],
    ),
}
