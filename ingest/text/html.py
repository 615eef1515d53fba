"""The HTML reader: trafilatura over the decoded page, with its options pinned and recorded."""

from __future__ import annotations

import configparser
import re

from ingest.text.blocks import caption_texts, html_blocks
from ingest.text.charset import decode_html_notes
from ingest.text.completeness import TINY_TEXT, depth_loss, incomplete_reason
from ingest.text.extraction import (
    EXTRACTORS,
    TRAFILATURA_CONFIG,
    TRAFILATURA_OPTIONS,
    Extraction,
    pinned_options,
    quiet,
    text_hash,
    trafilatura,
)
from ingest.text.metatext import metadata_parts, with_parts

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
_HTML_LANG = re.compile(r"""<html\b[^>]*?\blang\s*=\s*["']?([A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*)""", re.I)


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


def extract_html(data: bytes, http_charset: str | None) -> Extraction:
    html, charset, source, notes = decode_html_notes(data, http_charset)
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
    with quiet(("trafilatura", "htmldate", "justext", "readability", "courlan")) as log:
        doc = trafilatura.bare_extraction(
            html, config=_trafilatura_config_once(), date_extraction_params=options["date_extraction_params"], **kwargs
        )
    if log.count:
        notes["log_messages"] = log.count
    text = (doc.text or "") if doc is not None else ""
    interstitial = len(text) <= _INTERSTITIAL_MAX_CHARS and bool(_INTERSTITIAL.search(text))
    incomplete = incomplete_reason(html, "" if interstitial else text)
    # Little or no main text: the page's metadata may hold what it shows (a social post).
    parts = metadata_parts(html) if incomplete or interstitial or len(text.strip()) < TINY_TEXT else []
    if incomplete and (parts or (text.strip() and not interstitial) or incomplete.startswith("application shell")):
        notes["incomplete"] = incomplete
    lost = depth_loss(html)  # text a parse drops is never "not in the page": the capture says it is incomplete
    if lost:
        notes["incomplete"] = f"{notes['incomplete']}; {lost}" if notes.get("incomplete") else lost
    if doc is None:
        if parts:
            return _with_metadata(result, "", parts)
        result.error = "no text extracted (trafilatura found no main content)"
        return result
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
    if interstitial:
        notes["interstitial_text"] = text
    if parts:
        return _with_metadata(result, "" if interstitial else text, parts)
    if not text.strip():
        result.error = "no text extracted (empty main text)"
        return result
    if interstitial:
        result.error = f"no text extracted (interstitial page: {text.strip()[:120]!r})"
        return result
    result.text = text
    result.text_blake3 = text_hash(text)
    result.blocks = html_blocks(text, doc.body, caption_texts(html))
    return result


def _with_metadata(result: Extraction, main: str, parts: list[tuple[str, str]]) -> Extraction:
    """The main text (if any) followed by the page's metadata texts, each part's place recorded."""
    result.text, result.metadata["parts"] = with_parts(main, parts)
    result.text_blake3 = text_hash(result.text)
    return result
