"""Turning archived bytes into text and metadata: one Extraction per (bytes, media type).

This module owns the step between an archived capture and the text that claims
anchor their quotes in. It never fetches and never writes; it takes bytes and a
media type and returns an `Extraction` recording the text, its BLAKE3 hash,
the document's own metadata, and every option and library version that
produced it, so the same bytes with the same versions give the same text hash
in any process.

Three extractors:

* ``trafilatura`` for HTML (text/html, application/xhtml+xml). The bytes are
  decoded here, never by trafilatura, in this order: byte-order mark, HTTP
  charset, the page's own <meta> declaration, UTF-8 if the bytes are valid
  UTF-8, charset-normalizer's detection, and last UTF-8 with replacement
  characters. A BOM comes before the HTTP charset because it is part of the
  bytes themselves (the WHATWG Encoding Standard and every browser do the
  same). A declared charset that cannot decode the bytes without errors is
  passed over and the rejection is recorded in ``metadata``. An extraction
  that yields no main text (script-only shells, interstitials, empty pages)
  is a failure.
* ``pypdf`` for PDF, page by page. ``text`` is the pages' texts joined by a
  single form feed (U+000C) between pages, no separator after the last one;
  each `PageSpan` gives a page's [start, end) code-point offsets in ``text``.
  A PDF without any text layer (scanned images) is a *successful* extraction
  with ``has_text_layer=False``, every page ``has_text=False``,
  ``metadata["text_layer"] == "none"``, and ``text`` made of the separators
  only ("" for one page): quotes in it cannot be verified against text.
* ``text`` for text/*: decoded (BOM, declared charset, UTF-8, detection) and
  kept exactly as decoded: no newline or Unicode normalisation, nothing
  stripped, because quotes anchor by code-point offsets in this very string.

`extract` never raises for bad input: it returns an Extraction whose ``error``
is set (and ``text`` None). The one exception it lets through is MemoryError,
so that a sandboxed worker (see ``ingest.workers``) can report a memory limit.
"""

from __future__ import annotations

import codecs
import configparser
import datetime as _dt
import io
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import importlib.util
import sys
import types

import blake3
import charset_normalizer

from ingest import __version__ as _khronika_version
from ingest.errors import ExtractionFailed


def _lazy(name: str) -> types.ModuleType:
    """Import a module on first use: a run with nothing to extract (most re-runs) does not
    pay for importing trafilatura and pypdf. Workers are forked after warm_up() imports them."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


trafilatura = _lazy("trafilatura")
pypdf = _lazy("pypdf")

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
PAGE_SEPARATOR = "\f"

# Options passed to trafilatura.bare_extraction, pinned here and recorded as is.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "fast": False,
    "favor_precision": False,
    "favor_recall": False,
    "include_comments": False,
    "include_tables": True,
    "include_images": False,
    "include_formatting": False,
    "include_links": False,
    "deduplicate": False,
    "with_metadata": True,
    "only_with_metadata": False,
    "target_language": None,
    "url": None,
    "prune_xpath": None,
    "output_format": "python",
}
# trafilatura's configuration, pinned so that a changed default shows in the record.
TRAFILATURA_CONFIG: dict[str, str] = {
    "MAX_FILE_SIZE": "200000000",
    "MIN_FILE_SIZE": "10",
    "MIN_EXTRACTED_SIZE": "250",
    "MIN_OUTPUT_SIZE": "1",
    "MIN_OUTPUT_COMM_SIZE": "1",
    "MAX_TREE_SIZE": "",
    "EXTRACTION_TIMEOUT": "0",
    "MIN_DUPLCHECK_SIZE": "100",
    "MAX_REPETITIONS": "2",
    "EXTENSIVE_DATE_SEARCH": "on",
}
# Options passed to pypdf (PdfReader and PageObject.extract_text).
PYPDF_OPTIONS: dict[str, Any] = {
    "strict": False,
    "password": "",
    "extraction_mode": "plain",
    "orientations": [0, 90, 180, 270],
    "space_width": 200.0,
    "page_separator": PAGE_SEPARATOR,
}
TEXT_OPTIONS: dict[str, Any] = {"normalisation": None}

# Short pages whose only text is one of these are interstitials, not content.
# A heuristic: a short page whose text matches one of these phrases is a
# JavaScript shell, bot check or consent wall, not the document. Phrases that
# could plausibly be news ("access denied") are deliberately not listed.
_INTERSTITIAL = re.compile(
    r"enable javascript|javascript is (?:disabled|required|not enabled)|checking your browser"
    r"|checking if the site connection is secure|verify(?:ing)? (?:that )?you are (?:a )?human"
    r"|are you a robot|complete the captcha|captcha (?:check|challenge)|before you continue to"
    r"|включите javascript|вы не робот|проверка браузера",
    re.IGNORECASE,
)
_INTERSTITIAL_MAX_CHARS = 400

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
_HTML_LANG = re.compile(r"""<html\b[^>]*?\blang\s*=\s*["']?([A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*)""", re.I)


@dataclass
class PageSpan:
    """One PDF page: its number, printed label and place in Extraction.text."""

    number: int  # 1-based
    label: str | None  # printed page label from /PageLabels; None if the PDF defines none
    start: int  # code-point offsets of this page in Extraction.text, [start, end)
    end: int
    has_text: bool


@dataclass
class Extraction:
    """The text and metadata extracted from one capture, and how they were made."""

    extractor: str  # "trafilatura" | "pypdf" | "text" | "none"
    extractor_version: str
    options: dict  # every option passed, pinned and recorded (JSON-serialisable)
    text: str | None
    text_blake3: str | None  # blake3 hex of text.encode("utf-8")
    title: str | None = None
    author: str | None = None
    date: str | None = None  # the document's own date, never the extraction date
    sitename: str | None = None
    language: str | None = None
    charset: str | None = None  # encoding used to decode (HTML/text)
    charset_source: str | None = None  # "http" | "bom" | "meta" | "detected" | "default"
    page_count: int | None = None
    pages: list[PageSpan] | None = None
    metadata: dict = field(default_factory=dict)
    has_text_layer: bool | None = None  # PDFs
    error: str | None = None  # set when extraction failed; then text is None

    @property
    def ok(self) -> bool:
        return self.error is None

    def check(self) -> Extraction:
        """Return self, or raise ExtractionFailed if the extraction failed."""
        if self.error is not None:
            raise ExtractionFailed(self.error)
        return self

    def to_json(self) -> dict:
        """A JSON-serialisable dict; `from_json` turns it back into an equal Extraction."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> Extraction:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}  # a newer writer's extra keys
        pages = d.get("pages")
        if pages is not None:
            d["pages"] = [PageSpan(**p) for p in pages]
        return cls(**d)


def extractor_versions() -> dict[str, str]:
    """Name -> version of every extractor this module can run (the installed distributions')."""
    from importlib.metadata import version

    return {
        "trafilatura": version("trafilatura"),
        "pypdf": version("pypdf"),
        "text": f"khronika-{_khronika_version}",
    }


EXTRACTORS: dict[str, str] = extractor_versions()


def extractor_for(media_type: str) -> str:
    """The extractor that handles a media type, or "none"."""
    mt = _split_media_type(media_type)[0]
    if mt in HTML_TYPES:
        return "trafilatura"
    if mt in PDF_TYPES:
        return "pypdf"
    if mt.startswith("text/"):
        return "text"
    return "none"


def pinned_options(extractor: str) -> dict:
    """The options an extractor is run with, as recorded in Extraction.options."""
    if extractor == "trafilatura":
        return {**TRAFILATURA_OPTIONS, "config": dict(TRAFILATURA_CONFIG),
                "date_extraction_params": _date_params()}
    if extractor == "pypdf":
        return dict(PYPDF_OPTIONS)
    if extractor == "text":
        return dict(TEXT_OPTIONS)
    return {}


def failed(media_type: str, error: str, **metadata: Any) -> Extraction:
    """An Extraction recording a failure for a media type."""
    name = extractor_for(media_type)
    return Extraction(
        extractor=name,
        extractor_version=EXTRACTORS.get(name, ""),
        options=pinned_options(name),
        text=None,
        text_blake3=None,
        metadata=dict(metadata),
        error=error,
    )


def text_hash(text: str) -> str:
    return blake3.blake3(text.encode("utf-8")).hexdigest()


def extract(data: bytes, media_type: str, charset: str | None = None) -> Extraction:
    """Extract text and metadata from archived bytes, in this process.

    `media_type` may carry parameters ("text/html; charset=koi8-r"); an explicit
    `charset` wins over such a parameter. Never raises for bad input: a failure
    is an Extraction with `error` set. MemoryError is re-raised.
    """
    mt, param_charset = _split_media_type(media_type)
    charset = charset or param_charset
    name = extractor_for(mt)
    try:
        if name == "trafilatura":
            return _extract_html(data, charset)
        if name == "pypdf":
            return _extract_pdf(data)
        if name == "text":
            return _extract_text(data, charset)
        return failed(mt, f"unsupported media type {mt or repr(media_type)}")
    except MemoryError:
        raise
    except RecursionError:
        return failed(mt, "extraction failed: document nested too deeply (RecursionError)")
    except Exception as exc:  # an extractor bug must not stop a batch
        return failed(mt, f"extraction failed: {type(exc).__name__}: {exc}")


def warm_up() -> None:
    """Run each extractor once on a tiny document so lazy imports and caches are
    filled; a process that forks workers afterwards hands them over ready."""
    html = (b"<html lang='en'><head><title>w</title></head><body><article><p>"
            + b"Warm-up paragraph with enough words to be kept as main text. " * 6
            + b"</p></article></body></html>")
    extract(html, "text/html", "utf-8")
    extract(b"warm", "text/plain")
    extract(b"%PDF-1.4\n%%EOF\n", "application/pdf")
    charset_normalizer.from_bytes("Проверка кодировки".encode("cp1251")).best()


# --- decoding -----------------------------------------------------------------


def decode_html(data: bytes, http_charset: str | None) -> tuple[str, str, str]:
    """Decode HTML bytes; return (text, charset, source).

    Order: BOM, HTTP charset, the page's own declaration (an XML declaration,
    else <meta charset>/<meta http-equiv> in the first 8 KiB, source "meta"), valid UTF-8, charset-normalizer detection, UTF-8 with replacement.
    A declared charset that is unknown or cannot decode the bytes strictly is
    skipped. `http_charset` may be a bare charset or a Content-Type value.
    """
    text, charset, source, _notes = _decode_html(data, http_charset)
    return text, charset, source


def _decode_html(data: bytes, http_charset: str | None) -> tuple[str, str, str, dict]:
    notes: dict[str, Any] = {}
    bom = _decode_bom(data)
    if bom:
        return bom[0], bom[1], "bom", notes
    if http_charset and ("=" in http_charset or ";" in http_charset):
        http_charset = _split_media_type(http_charset)[1]
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


def _decode_text(data: bytes, declared: str | None) -> tuple[str, str, str, dict]:
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


def _split_media_type(value: str) -> tuple[str, str | None]:
    parts = (value or "").split(";")
    mt = parts[0].strip().lower()
    charset = None
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset" and v.strip():
            charset = v.strip().strip("\"'")
    return mt, charset


# --- HTML -----------------------------------------------------------------------


def _date_params() -> dict[str, Any]:
    # htmldate rejects dates after max_date; trafilatura sets it to "today" in
    # local time. Pin it to today's UTC date so it is the same on every machine.
    today = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    return {"original_date": True, "extensive_search": True, "max_date": today}


def _trafilatura_config_once() -> configparser.ConfigParser:
    global _CONFIG
    if _CONFIG is None:
        _CONFIG = _trafilatura_config()
    return _CONFIG


def _trafilatura_config() -> configparser.ConfigParser:
    from trafilatura.settings import DEFAULT_CONFIG

    config = configparser.ConfigParser()
    config.read_dict({"DEFAULT": dict(DEFAULT_CONFIG["DEFAULT"])})
    config.read_dict({"DEFAULT": TRAFILATURA_CONFIG})
    return config


_CONFIG: configparser.ConfigParser | None = None  # built on first HTML extraction


def _extract_html(data: bytes, http_charset: str | None) -> Extraction:
    html, charset, source, notes = _decode_html(data, http_charset)
    options = pinned_options("trafilatura")
    result = Extraction(
        extractor="trafilatura",
        extractor_version=EXTRACTORS["trafilatura"],
        options=options,
        text=None,
        text_blake3=None,
        charset=charset,
        charset_source=source,
        metadata=notes,
    )
    kwargs = {k: v for k, v in TRAFILATURA_OPTIONS.items()}
    with _quiet(("trafilatura", "htmldate", "justext", "readability", "courlan")) as log:
        doc = trafilatura.bare_extraction(
            html, config=_trafilatura_config_once(), date_extraction_params=options["date_extraction_params"], **kwargs
        )
    if log.count:
        notes["log_messages"] = log.count
    if doc is None:
        result.error = "no text extracted (trafilatura found no main content)"
        return result
    text = doc.text or ""
    result.title = doc.title or None
    result.author = doc.author or None
    result.date = doc.date or None  # never doc.filedate: that is the extraction day
    result.sitename = doc.sitename or None
    result.language = doc.language or None
    if result.language is None:
        m = _HTML_LANG.search(html[:8192])
        if m:
            result.language = m.group(1)
            notes["language_source"] = "html lang"
    for key in ("url", "hostname", "description", "categories", "tags", "license",
                "image", "pagetype", "id", "fingerprint"):
        value = getattr(doc, key, None)
        if value:
            notes[key] = list(value) if isinstance(value, (list, tuple, set)) else str(value)
    if not text.strip():
        result.error = "no text extracted (empty main text)"
        return result
    if len(text) <= _INTERSTITIAL_MAX_CHARS and _INTERSTITIAL.search(text):
        result.error = f"no text extracted (interstitial page: {text.strip()[:120]!r})"
        notes["interstitial_text"] = text
        return result
    result.text = text
    result.text_blake3 = text_hash(text)
    return result


# --- plain text -------------------------------------------------------------------


def _extract_text(data: bytes, declared: str | None) -> Extraction:
    text, charset, source, notes = _decode_text(data, declared)
    return Extraction(
        extractor="text",
        extractor_version=EXTRACTORS["text"],
        options=pinned_options("text"),
        text=text,
        text_blake3=text_hash(text),
        charset=charset,
        charset_source=source,
        metadata=notes,
    )


# --- PDF ----------------------------------------------------------------------------


def _extract_pdf(data: bytes) -> Extraction:
    result = Extraction(
        extractor="pypdf",
        extractor_version=EXTRACTORS["pypdf"],
        options=pinned_options("pypdf"),
        text=None,
        text_blake3=None,
    )
    meta = result.metadata
    with _quiet(("pypdf",)) as log:
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
    page_errors: dict[str, str] = {}
    for i in range(count):
        try:
            page_text = pages[i].extract_text(
                orientations=tuple(PYPDF_OPTIONS["orientations"]),
                space_width=PYPDF_OPTIONS["space_width"],
                extraction_mode=PYPDF_OPTIONS["extraction_mode"],
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


# --- logging ------------------------------------------------------------------------


class _LogCounter(logging.Handler):
    def __init__(self, keep: int = 5) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.keep = keep
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING:
            return
        self.count += 1
        if len(self.messages) < self.keep:
            try:
                self.messages.append(record.getMessage()[:300])
            except Exception:
                pass


@contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[_LogCounter]:
    """Count the warnings these libraries log or warn, and keep them off stderr."""
    counter = _LogCounter()
    saved = []
    for name in names:
        lg = logging.getLogger(name)
        saved.append((lg, lg.propagate, lg.level))
        lg.addHandler(counter)
        lg.propagate = False
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield counter
        for w in caught:
            counter.count += 1
            if len(counter.messages) < counter.keep:
                counter.messages.append(str(w.message)[:300])
    finally:
        for lg, propagate, level in saved:
            lg.removeHandler(counter)
            lg.propagate = propagate
            lg.setLevel(level)
