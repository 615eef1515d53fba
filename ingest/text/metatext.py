"""Text a page carries only in its metadata (JSON-LD articleBody, og:description, description), as labelled parts.

A social post's page often holds the post only in its <head> (Telegram's "View in Telegram" page
puts it in og:description). When the main text is missing or the capture is incomplete, these
parts are appended to the extracted text after the main text, each recorded in
`metadata["parts"]` with its label and [start, end), so a quote found there is shown as "found in
the page's metadata", never as text the page displays.
"""

from __future__ import annotations

import json
from typing import Any

PART_SEPARATOR = "\n\n"
_META = (("og:description", "property"), ("description", "name"), ("twitter:description", "name"))
_MAX_JSON = 2_000_000  # a JSON-LD block larger than this is not parsed


def metadata_parts(html: str) -> list[tuple[str, str]]:
    """(label, text) for each distinct text in the page's metadata, fullest first."""
    try:
        import lxml.html

        root = lxml.html.document_fromstring(html)
    except Exception:
        return []
    found: list[tuple[str, str]] = []
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json" and script.text \
                and len(script.text) <= _MAX_JSON:
            try:
                data = json.loads(script.text)
            except ValueError:
                continue
            found += [("JSON-LD articleBody", body) for body in _article_bodies(data)]
    for key, attr in _META:
        for meta in root.iter("meta"):
            if (meta.get(attr) or "").strip().lower() == key and (meta.get("content") or "").strip():
                found.append((key, meta.get("content").strip()))
    parts: list[tuple[str, str]] = []
    for label, text in found:
        flat = " ".join(text.split())
        if flat and not any(flat in " ".join(t.split()) for _, t in parts):
            parts.append((label, text))
    return parts


def _article_bodies(data: Any, depth: int = 0) -> list[str]:
    if depth > 8:
        return []
    if isinstance(data, list):
        return [b for item in data for b in _article_bodies(item, depth + 1)]
    if isinstance(data, dict):
        out = [data["articleBody"].strip()] if isinstance(data.get("articleBody"), str) and data["articleBody"].strip() else []
        for key in ("@graph", "mainEntity", "mainEntityOfPage"):
            if key in data:
                out += _article_bodies(data[key], depth + 1)
        return out
    return []


def with_parts(main: str, parts: list[tuple[str, str]]) -> tuple[str, list[dict[str, Any]]]:
    """The main text followed by the parts, and each part's {"label", "start", "end"} in it."""
    text = main.rstrip() if main.strip() else ""
    spans = []
    for label, part in parts:
        if text:
            text += PART_SEPARATOR
        spans.append({"label": label, "start": len(text), "end": len(text) + len(part)})
        text += part
    return text, spans


def part_at(parts: list[dict[str, Any]] | None, start: int, end: int) -> str | None:
    """The label of the metadata part a passage [start, end) lies in (or overlaps), or None."""
    for p in parts or ():
        if start < p["end"] and end > p["start"]:
            return str(p["label"])
    return None
