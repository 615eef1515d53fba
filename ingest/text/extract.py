"""Turning archived bytes into text and metadata: one Extraction per (bytes, media type).

This module owns the step between an archived capture and the text that claims
anchor their quotes in. It never fetches and never writes; it takes bytes and a
media type and returns an `Extraction` recording the text, its BLAKE3 hash,
the document's own metadata, and every option and library version that
produced it, so the same bytes with the same versions give the same text hash
in any process.

Four extractors:

* ``trafilatura`` for HTML (text/html, application/xhtml+xml). The bytes are
  decoded here, never by trafilatura, as browsers decode them (the WHATWG
  Encoding Standard, ``ingest.text.charset``): byte-order mark, HTTP charset,
  the <meta> prescan of the first 1024 bytes (or a <meta> later in <head>, as
  Chromium reads it), UTF-8 if the bytes are valid UTF-8, charset-normalizer's
  detection among the standard's encodings, and last windows-1252. Labels the
  standard does not know are ignored; a declared encoding is never rejected:
  undecodable bytes become U+FFFD, as on screen. An extraction that yields no
  main text (script-only shells, interstitials, empty pages) is a failure.
* ``pypdf`` for PDF, page by page. ``text`` is the pages' texts joined by a
  single form feed (U+000C) between pages, no separator after the last one;
  each `PageSpan` gives a page's [start, end) code-point offsets in ``text``.
  A PDF without any text layer (scanned images) is a *successful* extraction
  with ``has_text_layer=False``, every page ``has_text=False``,
  ``metadata["text_layer"] == "none"``, and ``text`` made of the separators
  only ("" for one page): quotes in it cannot be verified against text.
* ``telegram`` for a Telegram preview page (asked for by name, `reader`): the post's own text
  (``ingest.text.telegram``); ``telegram_api`` for a post archived through the Telegram API
  (``application/x-telegram-tl``, ``ingest.text.tgapi``).
* ``text`` for text/*: decoded (BOM, declared charset, UTF-8, detection) and
  kept exactly as decoded: no newline or Unicode normalisation, nothing
  stripped, because quotes anchor by code-point offsets in this very string.

Every successful extraction also records its block structure (``blocks``: where each paragraph,
heading, list item, cell or PDF paragraph lies in ``text``; see ``ingest.text.blocks``), found
beside the text and never by changing it.

`extract` never raises for bad input: it returns an Extraction whose ``error``
is set (and ``text`` None). The one exception it lets through is MemoryError,
so that a sandboxed worker (see ``ingest.text.workers``) can report a memory limit.
"""

from __future__ import annotations

import charset_normalizer

from ingest.text import ocr, telegram, tgapi
from ingest.text.blocks import text_blocks
from ingest.text.charset import decode_html, decode_text_notes
from ingest.text.extraction import extractor_versions as _base_versions
from ingest.text.extraction import (
    EXTRACTORS,
    PAGE_SEPARATOR,
    Extraction,
    PageSpan,
    extractor_for,
    failed,
    pinned_options,
    split_media_type,
    text_hash,
)
from ingest.text.html import extract_html
from ingest.text.pdf import extract_pdf

__all__ = [
    "PAGE_SEPARATOR",
    "Extraction",
    "PageSpan",
    "decode_html",
    "extract",
    "extractor_for",
    "extractor_versions",
    "failed",
    "failed_for",
    "pinned_options",
    "text_hash",
    "warm_up",
]


def extract(data: bytes, media_type: str, charset: str | None = None, ocr_pages: bool = False,
            reader: str | None = None) -> Extraction:
    """Extract text and metadata from archived bytes, in this process.

    `media_type` may carry parameters ("text/html; charset=koi8-r"); an explicit
    `charset` wins over such a parameter. `ocr_pages` asks for the OCR extraction of a PDF's
    pages without a text layer instead of its text layer. `reader` names a reader the media type
    alone does not choose ("telegram": the post of a Telegram preview page). Never raises for bad input: a failure
    is an Extraction with `error` set. MemoryError is re-raised.
    """
    mt, param_charset = split_media_type(media_type)
    charset = charset or param_charset
    name = reader or extractor_for(mt)
    try:
        if name == "telegram":
            return telegram.parse_post(data, charset)
        if name == "telegram_api":
            return tgapi.parse_api_post(data)
        if ocr_pages and name == "pypdf":
            return _ocr_pdf(data)
        if name == "tesseract":
            return ocr.ocr_image(data, mt)
        if name == "trafilatura":
            return extract_html(data, charset)
        if name == "pypdf":
            return extract_pdf(data)
        if name == "text":
            return _extract_text(data, charset)
        return failed(mt, f"unsupported media type {mt or repr(media_type)}")
    except MemoryError:
        raise
    except RecursionError:
        return failed_for(mt, "extraction failed: document nested too deeply (RecursionError)", reader=reader)
    except Exception as exc:  # an extractor bug must not stop a batch
        return failed_for(mt, f"extraction failed: {type(exc).__name__}: {exc}", ocr_pages=ocr_pages, reader=reader)


def _ocr_pdf(data: bytes) -> Extraction:
    layer = extract_pdf(data)  # which pages have no text layer: decided by the bytes alone
    if layer.error or layer.pages is None:
        return ocr.failed(f"cannot OCR: {layer.error}", "pdf")
    return ocr.ocr_pdf(data, layer.pages)


def failed_for(media_type: str, error: str, *, ocr_pages: bool = False, reader: str | None = None,
               **metadata: object) -> Extraction:
    """A failed Extraction as the extractor of this job would have recorded it."""
    if reader == "telegram":
        return telegram.failed_read(error, **metadata)
    if extractor_for(media_type) == "telegram_api":
        return tgapi.failed_read(error, **metadata)
    if extractor_for(media_type) == "tesseract" or (ocr_pages and extractor_for(media_type) == "pypdf"):
        return ocr.failed(error, "pdf" if ocr_pages else "image", **metadata)
    return failed(media_type, error, **metadata)


def extractor_versions() -> dict[str, str]:
    """Name -> version of every extractor this process can run; Tesseract "" when not installed."""
    return {**_base_versions(), "tesseract": ocr.tesseract_version()}


def warm_up() -> None:
    """Run each extractor once on a tiny document so lazy imports and caches are
    filled; a process that forks workers afterwards hands them over ready."""
    html = (b"<html lang='en'><head><title>w</title></head><body><article><p>"
            + b"Warm-up paragraph with enough words to be kept as main text. " * 6
            + b"</p></article></body></html>")
    extract(html, "text/html", "utf-8")
    extract(b"warm", "text/plain")
    extract(b"%PDF-1.4\n%%EOF\n", "application/pdf")
    extract(b"<div class='tgme_widget_message' data-post='w/1'></div>", "text/html", "utf-8", reader="telegram")
    charset_normalizer.from_bytes("Проверка кодировки".encode("cp1251")).best()
    ocr.tesseract_version()  # probed once here, so forked workers do not run it again


def _extract_text(data: bytes, declared: str | None) -> Extraction:
    text, charset, source, notes = decode_text_notes(data, declared)
    return Extraction(
        extractor="text",
        extractor_version=EXTRACTORS["text"],
        options=pinned_options("text"),
        text=text,
        text_blake3=text_hash(text),
        charset=charset,
        charset_source=source,
        metadata=notes,
        blocks=text_blocks(text),
    )
