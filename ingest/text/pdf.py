"""The PDF reader: pypdf page by page, the document's info and XMP metadata, page labels."""

from __future__ import annotations

import datetime as _dt
import io
import re
from typing import Any

from ingest.text.blocks import PDF_METHOD, PdfLines, pdf_page_runs, record
from ingest.text.extraction import (
    EXTRACTORS,
    PAGE_SEPARATOR,
    PYPDF_OPTIONS,
    Extraction,
    PageSpan,
    pinned_options,
    pypdf,
    quiet,
    text_hash,
)


def extract_pdf(data: bytes) -> Extraction:
    result = Extraction(
        extractor="pypdf",
        extractor_version=EXTRACTORS["pypdf"],
        options=pinned_options("pypdf"),
        text=None,
        text_blake3=None,
    )
    meta = result.metadata
    with quiet(("pypdf",)) as log:
        try:
            _read_pdf(data, result)
        except Exception as exc:
            if result.error is None:
                result.error = f"malformed PDF: {type(exc).__name__}: {exc}"
            result.text = result.text_blake3 = None
            result.pages = None
            result.has_text_layer = None
    if log.count:
        meta["pypdf_warnings"] = log.count
        meta["pypdf_warning_messages"] = log.messages
    return result


def _read_pdf(data: bytes, result: Extraction) -> None:
    meta = result.metadata
    reader = pypdf.PdfReader(io.BytesIO(data), strict=PYPDF_OPTIONS["strict"])
    meta["pdf_header"] = reader.pdf_header
    meta["encrypted"] = reader.is_encrypted
    if reader.is_encrypted:
        if reader.decrypt(PYPDF_OPTIONS["password"]) == pypdf.PasswordType.NOT_DECRYPTED:
            result.error = "encrypted PDF: password required"
            return
        meta["decrypted_with_empty_password"] = True
    _pdf_info(reader, result)
    pages = reader.pages
    count = len(pages)
    result.page_count = count
    labels = _page_labels(reader, count, meta)
    texts: list[str] = []
    placed: list[PdfLines] = []
    page_errors: dict[str, str] = {}
    for i in range(count):
        placed.append(PdfLines())
        try:
            # The visitor only watches where text is drawn; the text is what it would be without it.
            page_text = pages[i].extract_text(
                orientations=tuple(PYPDF_OPTIONS["orientations"]),
                space_width=PYPDF_OPTIONS["space_width"],
                extraction_mode=PYPDF_OPTIONS["extraction_mode"],
                visitor_text=placed[-1],
            )
        except MemoryError:
            raise
        except Exception as exc:
            page_errors[str(i + 1)] = f"{type(exc).__name__}: {exc}"
            page_text = ""
        texts.append(_clean_surrogates(page_text or "", meta))
    if count and len(page_errors) == count:
        first = next(iter(page_errors.values()))
        result.error = f"malformed PDF: text extraction failed on every page ({first})"
        meta["page_errors"] = page_errors
        return
    spans: list[PageSpan] = []
    offset = 0
    for i, page_text in enumerate(texts):
        if i:
            offset += len(PAGE_SEPARATOR)
        spans.append(PageSpan(i + 1, labels[i] if labels else None, offset,
                              offset + len(page_text), bool(page_text.strip())))
        offset += len(page_text)
    text = PAGE_SEPARATOR.join(texts)
    assert len(text) == offset
    result.text = text
    result.text_blake3 = text_hash(text)
    result.pages = spans
    result.blocks = _blocks(text, spans, placed)
    result.has_text_layer = any(s.has_text for s in spans)
    without = [s.number for s in spans if not s.has_text]
    if not result.has_text_layer:
        meta["text_layer"] = "none"
    elif without:
        meta["text_layer"] = "partial"
        meta["pages_without_text"] = without
    else:
        meta["text_layer"] = "full"
    if page_errors:
        meta["page_errors"] = page_errors


def _blocks(text: str, spans: list[PageSpan], placed: list[PdfLines]) -> dict[str, Any]:
    runs: list[list] = []
    by_lines: list[int] = []
    for span, lines in zip(spans, placed):
        page_runs, ok = pdf_page_runs(text, span.start, span.end, lines, span.number, 1)
        runs += page_runs
        if not ok:
            by_lines.append(span.number)
    notes = {"pages_split_by_lines": by_lines} if by_lines else {}
    return record(PDF_METHOD, runs, **notes)


def _page_labels(reader: pypdf.PdfReader, count: int, meta: dict) -> list[str] | None:
    try:
        if "/PageLabels" not in reader.trailer["/Root"]:
            return None
        labels = list(reader.page_labels)
    except Exception as exc:
        meta["page_labels_error"] = f"{type(exc).__name__}: {exc}"
        return None
    return labels if len(labels) == count else None


def _pdf_info(reader: pypdf.PdfReader, result: Extraction) -> None:
    meta = result.metadata
    info: dict[str, str] = {}
    try:
        raw = reader.metadata
        if raw is not None:
            for key in sorted(raw.keys()):
                try:
                    value = raw[key]  # resolves indirect objects
                    info[str(key)] = str(value)
                except Exception as exc:
                    info[str(key)] = f"<unreadable: {type(exc).__name__}>"
    except Exception as exc:
        meta["info_error"] = f"{type(exc).__name__}: {exc}"
    meta["info"] = info
    xmp = _pdf_xmp(reader, meta)
    if xmp:
        meta["xmp"] = xmp
    result.title = _nonblank(info.get("/Title")) or _nonblank(xmp.get("dc:title"))
    result.author = _nonblank(info.get("/Author")) or _nonblank(xmp.get("dc:creator"))
    raw_date = info.get("/CreationDate")
    result.date = (_pdf_date(raw_date) if raw_date else None) or _nonblank(
        xmp.get("xmp:CreateDate") or xmp.get("dc:date")
    )


def _pdf_xmp(reader: pypdf.PdfReader, meta: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        xmp = reader.xmp_metadata
    except Exception as exc:
        meta["xmp_error"] = f"{type(exc).__name__}: {exc}"
        return out
    if xmp is None:
        return out
    getters = {
        "dc:title": lambda: _langalt(xmp.dc_title),
        "dc:creator": lambda: "; ".join(xmp.dc_creator or []),
        "dc:date": lambda: "; ".join(_iso(d) for d in (xmp.dc_date or [])),
        "dc:description": lambda: _langalt(xmp.dc_description),
        "dc:language": lambda: "; ".join(xmp.dc_language or []),
        "xmp:CreateDate": lambda: _iso(xmp.xmp_create_date),
        "xmp:ModifyDate": lambda: _iso(xmp.xmp_modify_date),
        "xmp:CreatorTool": lambda: xmp.xmp_creator_tool,
        "pdf:Producer": lambda: xmp.pdf_producer,
        "pdf:Keywords": lambda: xmp.pdf_keywords,
    }
    for key, get in getters.items():
        try:
            value = get()
        except Exception:
            continue  # XMP is often malformed; a field we cannot read is left out
        if value:
            out[key] = str(value)
    return out


def _langalt(values: dict | None) -> str | None:
    if not values:
        return None
    return values.get("x-default") or next(iter(values.values()))


def _iso(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


_PDF_DATE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:([Zz+\-])(?:(\d{2})'?(\d{2})?'?)?)?"
)


def _pdf_date(raw: str) -> str | None:
    """A PDF date string ("D:20220403180542+02'00'") as ISO 8601; the raw string
    if it does not parse (it is still the document's own claim)."""
    m = _PDF_DATE.match(raw.strip())
    if not m:
        return _nonblank(raw)
    year, mon, day, hh, mm, ss, sign, tzh, tzm = m.groups()
    try:
        value = _dt.datetime(int(year), int(mon or 1), int(day or 1), int(hh or 0),
                             int(mm or 0), int(ss or 0))
    except ValueError:
        return _nonblank(raw)
    if mon is None:
        return year
    if day is None:
        return f"{year}-{mon}"
    if hh is None:
        return value.date().isoformat()
    iso = value.isoformat()
    if sign in ("Z", "z"):
        return iso + "Z"
    if sign in ("+", "-") and tzh is not None:
        return f"{iso}{sign}{tzh}:{tzm or '00'}"
    return iso


def _nonblank(value: str | None) -> str | None:
    """A metadata string without the NULs and blanks some producers pad it with;
    None if nothing is left. (metadata["info"] keeps the raw string.)"""
    if value is None:
        return None
    value = value.strip("\x00").strip()
    return value or None


def _clean_surrogates(text: str, meta: dict) -> str:
    # pypdf can emit lone surrogates from broken ToUnicode maps; they cannot be
    # stored as UTF-8, so they become U+FFFD and the count is recorded.
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        cleaned = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
        meta["lone_surrogates_replaced"] = meta.get("lone_surrogates_replaced", 0) + sum(
            1 for c in text if 0xD800 <= ord(c) <= 0xDFFF
        )
        return cleaned
