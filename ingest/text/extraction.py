"""The extraction record: what text came out of which bytes, with every option and version.

Lower layer of `ingest.text`: the `Extraction` and `PageSpan` records, the pinned options of
each extractor, their versions, and small helpers the readers share (lazy imports, quiet logs).
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import logging
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import blake3

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
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/tiff"})  # read by OCR (ingest.text.ocr)
PAGE_SEPARATOR = "\f"
TELEGRAM_TL_TYPE = "application/x-telegram-tl"  # a post's API answer as TL bytes (capture/tgapi, text/tgapi)

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
# The Telegram post reader: which element is the post's text and how its markup becomes text.
TELEGRAM_OPTIONS: dict[str, Any] = {"parser": "lxml.html", "post": "tgme_widget_message[data-post]",
                                    "text": "tgme_widget_message_text", "line_break": "<br>, block elements",
                                    "outer_whitespace": "stripped"}


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

    extractor: str  # "trafilatura" | "pypdf" | "text" | "tesseract" | "telegram" | "telegram_api" | "none"
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
    # {"method": ..., "blocks": [[start, end, name], ...]}: where each paragraph, heading, cell
    # or list item lies in `text` (see ingest.text.blocks); None when there is no text
    blocks: dict | None = None
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
        # The Telegram post reader (ingest.text.telegram): ours, over lxml's HTML parser.
        "telegram": f"khronika-{_khronika_version}+lxml-{version('lxml')}",
        # The Telegram API post reader (ingest.text.tgapi): ours, over Telethon's TL reader; ""
        # without Telethon (the optional telegram-api extra), so a later run with it reads again.
        "telegram_api": f"khronika-{_khronika_version}+telethon-{_telethon}" if (_telethon := _installed("telethon")) else "",
    }


def _installed(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


EXTRACTORS: dict[str, str] = extractor_versions()


def extractor_for(media_type: str) -> str:
    """The extractor that handles a media type, or "none"."""
    mt = split_media_type(media_type)[0]
    if mt == TELEGRAM_TL_TYPE:
        return "telegram_api"
    if mt in HTML_TYPES:
        return "trafilatura"
    if mt in PDF_TYPES:
        return "pypdf"
    if mt in IMAGE_TYPES:
        return "tesseract"
    if mt.startswith("text/"):
        return "text"
    return "none"


def pinned_options(extractor: str) -> dict:
    """The options an extractor is run with, as recorded in Extraction.options."""
    if extractor == "trafilatura":
        return {**TRAFILATURA_OPTIONS, "config": dict(TRAFILATURA_CONFIG),
                "date_extraction_params": date_params()}
    if extractor == "pypdf":
        return dict(PYPDF_OPTIONS)
    if extractor == "text":
        return dict(TEXT_OPTIONS)
    if extractor == "telegram":
        return dict(TELEGRAM_OPTIONS)
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


def split_media_type(value: str) -> tuple[str, str | None]:
    parts = (value or "").split(";")
    mt = parts[0].strip().lower()
    charset = None
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "charset" and v.strip():
            charset = v.strip().strip("\"'")
    return mt, charset


# --- HTML -----------------------------------------------------------------------


def date_params() -> dict[str, Any]:
    # htmldate rejects dates after max_date; trafilatura sets it to "today" in
    # local time. Pin it to today's UTC date so it is the same on every machine.
    today = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    return {"original_date": True, "extensive_search": True, "max_date": today}


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
def quiet(names: tuple[str, ...]) -> Iterator[_LogCounter]:
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
